package workers

import (
	"context"
	"sync"
)

// task is one unit of work for the pool. ctx ends only at the shutdown
// deadline (or when the pipeline's caller is gone); stop is closed when the
// shutdown starts, so that a task waiting to retry gives up its item
// instead of holding the shutdown.
type task func(ctx context.Context, stop <-chan struct{})

// pool runs tasks on a fixed number of goroutines. submit hands a task over
// only when a worker is free: the pollers wait there, which bounds the items
// taken from the sources and not yet acknowledged to the pool size.
type pool struct {
	tasks chan task
	wg    sync.WaitGroup
	once  sync.Once
}

func startPool(n int, ctx context.Context, stop <-chan struct{}) *pool {
	p := &pool{tasks: make(chan task)}
	for range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for t := range p.tasks {
				t(ctx, stop)
			}
		}()
	}
	return p
}

// submit waits for a free worker and hands it t, or returns ctx's error
// (then t never runs).
func (p *pool) submit(ctx context.Context, t task) error {
	select {
	case p.tasks <- t:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close ends the pool once its callers stopped submitting: the workers
// finish their task and exit. wait returns when they have.
func (p *pool) close() { p.once.Do(func() { close(p.tasks) }) }

func (p *pool) wait() { p.wg.Wait() }
