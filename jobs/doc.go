// Package jobs runs Reserva's scheduled work (migration sweep, backups, notifications,
// housekeeping) with gocron. Every job enters one tenant at a time through the tenancy layer.
package jobs
