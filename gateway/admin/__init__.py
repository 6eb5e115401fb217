"""Administration: clients, policy versions and keys, each change a proposal that a
second person approves."""
