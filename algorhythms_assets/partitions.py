import dagster as dg

# One partition per MPD slice file, keyed by its name without `.json` (`mpd.slice.0-999`).
mpd_slices = dg.DynamicPartitionsDefinition(name="mpd_slices")
