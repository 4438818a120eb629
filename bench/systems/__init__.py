"""One module per system under test. Each defines a `System` with:

- `setup()`: a fresh, empty store (its own database or file);
- `submit_one(n)` / `submit_batch(n, size)`: enqueue n no-op jobs;
- `worker()`: runs in its own process; connects, then `ready()`s, waits for `go`, and
  claims and completes jobs one at a time until none is left; returns how many it did;
- `remaining()`: jobs not finished (must be 0 after a drain).
"""
