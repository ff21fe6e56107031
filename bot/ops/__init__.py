"""Operations: health and readiness, Prometheus metrics, the doctor and backups (docs/deployment.md)."""
