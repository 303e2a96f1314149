"""`make bench`: the issue-6 benchmark harness (floors, AuthService, the facade, load, report)."""
