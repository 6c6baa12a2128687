"""Every write in generation: render and training jobs over one lease machinery."""
