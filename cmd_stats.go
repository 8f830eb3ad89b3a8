package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// cmdStats shows the cross-tenant daily counts.
func cmdStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlags("stats", &cfg, stderr, "Shows each business's bookings created and cancelled and its customers on a day (UTC),\nas counted by the stats job (reserva jobs run stats counts today now).")
	day := fs.String("day", time.Now().UTC().Format(time.DateOnly), "the day, YYYY-MM-DD")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, err := time.Parse(time.DateOnly, *day); err != nil {
		return fmt.Errorf("%w: --day %q is not a date like 2026-03-29", errUsage, *day)
	}
	return withPlatform(ctx, cfg, stderr, func(p *platform) error {
		stats, err := p.reg.Stats(ctx, *day)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SLUG\tBOOKINGS CREATED\tCANCELLED\tCUSTOMERS")
		var created, cancelled int
		for _, s := range stats {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", s.Slug, s.BookingsCreated, s.BookingsCancelled, s.Customers)
			created, cancelled = created+s.BookingsCreated, cancelled+s.BookingsCancelled
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write the stats: %w", err)
		}
		fmt.Fprintf(stdout, "\n%s: %d businesses, %d bookings created, %d cancelled\n", *day, len(stats), created, cancelled)
		return nil
	})
}
