// Package graph is the GraphQL API of a tenant, served at /{slug}/graphql. Resolvers are thin:
// they translate between GraphQL and the domain and find their tenant in the request context.
package graph

//go:generate go tool gqlgen generate --config ../gqlgen.yml

// Resolver is the root resolver. It holds no tenant: each request carries its own.
type Resolver struct{}
