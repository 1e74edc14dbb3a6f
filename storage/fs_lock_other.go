//go:build !unix

package storage

import "errors"

// lockFile is not implemented outside Unix: the filesystem backend needs
// flock to coordinate processes, and recevable is deployed on Linux.
func lockFile(path string) (unlock func(), err error) {
	return nil, errors.New("storage: filesystem bucket needs flock (Unix only)")
}
