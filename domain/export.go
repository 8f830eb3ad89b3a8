package domain

// ExportRedacted replaces the value of a redacted column in an export.
const ExportRedacted = "[redacted]"

// ExportPolicy says which parts of a business's database stay out of its export (GDPR access
// and portability): an export is handed to whoever owns the business, and must not carry
// anything that lets its holder act as a user, a customer or an integration. Adding a table or
// a column that holds a credential means one edit here; TestExportPolicy fails until it is made.
type ExportPolicy struct {
	SkipTables map[string]bool // tables left out altogether
	Redact     map[string]bool // "table.column" whose every value is replaced by ExportRedacted
	// NotSecret lists "table.column" whose name sounds like a secret but whose value is not one,
	// so the test of the policy knows they were looked at.
	NotSecret map[string]bool
}

// NewExportPolicy returns the export policy, in maps of its own that the caller may keep.
func NewExportPolicy() ExportPolicy {
	return ExportPolicy{
		SkipTables: map[string]bool{
			"sessions":        true, // dashboard session tokens: a copy is a signed-in browser
			"booking_tokens":  true, // hashes of customers' manage links
			"password_resets": true, // hashes of emailed reset links
			"invitations":     true, // hashes of emailed invitation links
		},
		Redact: map[string]bool{
			"users.password_hash":   true, // argon2id: an offline guessing target
			"api_tokens.token_hash": true, // SHA-256 of a bearer token
			"outbox.link_path":      true, // a pending mail's manage link, token in clear
			// With the booking's service, start and email (all exported) a retry by this key
			// gets a new manage link (ReplayBooking): it is a credential for the booking.
			"bookings.idempotency_key": true,
		},
		NotSecret: map[string]bool{
			"users.session_epoch":   true, // a counter of sign-outs everywhere
			"users.notify_bookings": true, // whether an owner is mailed about bookings
			"customers.phone_key":   true, // the customer's phone reduced to digits, for matching
		},
	}
}

// SkipsTable reports whether table is left out of an export.
func (p ExportPolicy) SkipsTable(table string) bool { return p.SkipTables[table] }

// Redacts reports whether column of table is exported as ExportRedacted.
func (p ExportPolicy) Redacts(table, column string) bool { return p.Redact[table+"."+column] }

// CopyDropTables returns the tables a copy of a business (restore --into) starts without: the
// source's sign-in sessions, API tokens, password-reset links and customers' manage links would
// otherwise open the copy too, and its outbox would send the source's queued mail again. Every
// table an export skips is among them (TestExportPolicy checks it).
func CopyDropTables() []string {
	return []string{"sessions", "api_tokens", "password_resets", "invitations", "booking_tokens", "outbox"}
}
