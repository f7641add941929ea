"""What is deployed, rendered and built: Prometheus config, Kubernetes manifests, Go tools."""
