"""Jobs: asking for them, the shared queue that hands them to workers, and running them."""
