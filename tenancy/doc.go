// Package tenancy knows which businesses (tenants) exist and hands out their databases. It
// owns the registry (the control-plane database behind the Registry interface), the
// resolution of a slug or custom host to one tenant, and the Manager: one lock per tenant,
// open handles under a cap (least recently used closed first), reference-counted leases,
// lazy migration on first use, damaged files kept out of service, and each tenant's
// lifecycle (provisioning from spares, rename, hosts, delete with every file of it,
// and whatever Config.EraseElsewhere erases beside them).
// A lease travels in a request's or job's context (FromContext, WithLease).
//
// It knows nothing of HTTP, fair shares, blobs, backups or exports: the web package resolves
// requests with it, and ops backs up and exports on top of its leases.
package tenancy
