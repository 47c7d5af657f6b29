"""Finished runs turned into what people read: the metrics and curves DVC shows (``summary``), and the report
of the experiment plan, built from the result files only (``build.build_report``)."""
