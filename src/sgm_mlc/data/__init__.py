"""Datasets behind one interface (:class:`sgm_mlc.data.base.Dataset`), and the common Parquet format."""
