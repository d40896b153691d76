"""Signal processing: audio I/O and resampling, codec round trips, mel banks, and the views, conditions and vocoders built on them."""
