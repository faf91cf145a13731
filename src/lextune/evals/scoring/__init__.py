"""Pure metric functions over stored predictions (no torch), one module per task type."""
