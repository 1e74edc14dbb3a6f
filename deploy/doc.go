// Package deploy holds what it takes to run recevable — the container image
// (Dockerfile), a local trial with an IMAP and an S3 server (compose.yaml),
// Kubernetes manifests (k8s/), a hardened systemd unit (systemd/), the
// Grafana dashboard (grafana/) and the Prometheus alert rules (prometheus/)
// — and the tests that check them offline. It holds no Go code of the
// service: the metrics the dashboard and the alerts rely on are listed in
// metrics.txt, the contract with the code that exports them.
package deploy
