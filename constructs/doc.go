// Package constructs holds the typed CDK constructs of the ANB Rising Stars
// deployment, one file per concern (network, storage, queue, database, web tier,
// worker tier, observability), and the stack that composes them (stack.go).
//
// Every construct follows the same shape: an exported interface with getters,
// a private struct that implements it, and a props struct whose zero values
// mean "use the default documented on the field".
package constructs
