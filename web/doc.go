// Package web serves the staff and mailroom interface (in French), the JSON
// API under /api/, and the metrics and health endpoints. It reads and writes
// dossiers only through storage, with the manifest's ETag guarding every
// state change.
package web
