"""Materialise `cooccurrence_edges` through Dagster on the Spark master named by SPARK_MASTER,
into the warehouse given as the first argument. Run as its own process: a JVM holds one
SparkContext, and the test session already has a local one."""

import sys

import dagster as dg
from dagster_pyspark import PySparkResource

from algorhythms_assets.assets.graph import cooccurrence_edges
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.spark import spark_conf_from_env


def main(warehouse: str) -> int:
    conf = spark_conf_from_env()
    assert conf["spark.master"].startswith("spark://"), conf["spark.master"]
    pyspark = PySparkResource(spark_config=conf)
    result = dg.materialize(
        [cooccurrence_edges],
        resources={"pyspark": pyspark, "warehouse": WarehouseResource(root=warehouse)},
        run_config={"ops": {"cooccurrence_edges": {"config": {"top_k": 20}}}},
    )
    print(f"success={result.success}")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
