package main

import (
	"context"
	"flag"
	"io"

	"github.com/gptailor/gptailor/native/session"
)

// distFlags are search's distributed-evaluation flags.
type distFlags struct {
	workers int
}

func (d *distFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&d.workers, "workers", 0, "evaluate on N local worker processes over an embedded NATS JetStream server")
}

func distribute(ctx context.Context, s *session.Session, spec session.RunSpec, d distFlags, stderr io.Writer) (func(), error) {
	return func() {}, nil
}
