package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// smtpSink is the mail server the bench's Reserva sends to, in the load generator's process: it
// takes every message and drops it. The bench then measures mail as production sends it (a
// conversation with a mail server per message), not the .eml files `serve` writes without a
// mail server, whose creation in a folder per business cost the server ~0.4 ms of CPU each.
type smtpSink struct {
	addr     string
	received atomic.Int64
}

// mailSink returns the process's sink, started at the first call.
var mailSink = sync.OnceValue(startSMTPSink)

func startSMTPSink() *smtpSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	s := &smtpSink{addr: ln.Addr().String()}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.bench.example"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 1 << 20
	go func() { _ = srv.Serve(ln) }() // ends with the program
	return s
}

func (s *smtpSink) url() string { return "smtp://" + s.addr }

func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{s}, nil }

type sinkSession struct{ s *smtpSink }

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }

func (x sinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	if err == nil {
		x.s.received.Add(1)
	}
	return err
}
