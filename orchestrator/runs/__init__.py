"""What happens to runs beyond a single step: replaying from a step (replay),
sending steps through Message Batches (batches), laying a run out on a time axis
(trace) and streaming runs, findings and steps as CSV (export)."""
