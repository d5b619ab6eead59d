"""Durable background jobs: enqueue in the caller's transaction, run by a leased worker."""
