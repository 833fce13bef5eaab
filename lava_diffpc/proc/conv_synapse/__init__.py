"""See process.py (the Process) and models.py (its floating_pt and fixed_pt models)."""
