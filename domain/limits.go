package domain

// Text limits, in characters (Unicode code points) unless said otherwise. Each is checked where
// its field is validated and quoted in the message that refuses it. The GraphQL schema's
// descriptions repeat some of them in prose (graph/*.graphqls): change those with them.
const (
	MaxNameLen           = 120  // a person, service, staff member or resource
	MaxTokenNameLen      = 80   // an API token's name
	MaxDescriptionLen    = 2000 // a service's description
	MaxNotesLen          = 2000 // a booking's or a customer's notes
	MaxPhoneLen          = 40   // a customer's or the business's phone
	MaxAddressLen        = 500  // the business's address
	MaxCancelReasonLen   = 500  // why a booking was cancelled
	MaxTimeOffReasonLen  = 200  // why a staff member is away
	MaxLocaleLen         = 35   // a BCP 47 language tag, in bytes
	MaxEmailLen          = 254  // an email address, in bytes (RFC 5321's path limit)
	MaxIdempotencyKeyLen = 100  // a booking request's idempotency key, in bytes
)

// MaxBodyBytes bounds every request body, a form's or a GraphQL operation's, in bytes: web caps
// all requests with it and the GraphQL handler again when it is mounted on its own. Uploads
// that need more get their own limit.
const MaxBodyBytes = 1 << 20
