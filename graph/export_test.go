package graph

// WithGqlgenOnly turns the fast paths off, for tests that compare their answers with gqlgen's.
func WithGqlgenOnly() Option { return func(o *options) { o.gqlgenOnly = true } }
