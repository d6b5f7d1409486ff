import socket

from algorhythms_ml.spark import spark_conf_from_env


def test_cluster_conf_names_the_master_and_the_drivers_address():
    conf = spark_conf_from_env(
        {"SPARK_MASTER": "spark://master:7077", "SPARK_DRIVER_HOST": "auto", "X": "1"}
    )
    assert conf["spark.master"] == "spark://master:7077"
    assert conf["spark.sql.shuffle.partitions"] == "400"
    assert conf["spark.driver.host"] == socket.gethostbyname(socket.gethostname())
    assert "spark.pyspark.python" not in conf  # a cluster's workers bring their own Python
    assert "-XX:+Use" not in conf["spark.driver.extraJavaOptions"]  # the JVM's own collector


def test_local_conf_uses_loopback_and_this_interpreter():
    conf = spark_conf_from_env({})
    assert conf["spark.master"] == "local[*]" and conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.sql.shuffle.partitions"] == "8"
    assert conf["spark.pyspark.python"]


def test_local_driver_uses_the_parallel_collector_unless_told_otherwise():
    assert "-XX:+UseParallelGC" in spark_conf_from_env({})["spark.driver.extraJavaOptions"]
    options = spark_conf_from_env({"SPARK_DRIVER_JAVA_OPTIONS": "-XX:+UseG1GC"})[
        "spark.driver.extraJavaOptions"
    ]
    assert "-XX:+UseG1GC" in options and "Parallel" not in options
    assert "log4j2.configurationFile" in options
