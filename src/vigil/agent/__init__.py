"""The in-app agent: metrics, request tracking, structured logs and health checks."""
