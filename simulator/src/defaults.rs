//! The well-known IDs and the test credential of the built-in inventory, which tests and the demo
//! address.

pub const DEFAULT_TENANT_ID: &str = "11111111-1111-1111-1111-111111111111";
pub const DEFAULT_CLIENT_ID: &str = "22222222-2222-2222-2222-222222222222";
/// A public test credential, valid only against the simulator.
pub const DEFAULT_CLIENT_SECRET: &str = "simulator-secret";
pub const DEFAULT_SUBSCRIPTION_ID: &str = "00000000-0000-0000-0000-000000000001";

/// The built-in subscription where `Microsoft.Insights` is not registered.
pub const SECOND_SUBSCRIPTION_ID: &str = "00000000-0000-0000-0000-000000000002";
/// Issuer and subject of the built-in principal's federated credential (workload identity).
pub const DEFAULT_FEDERATED_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
pub const DEFAULT_FEDERATED_SUBJECT: &str = "system:serviceaccount:flowlog-system:flowlog-operator";
/// The managed identity IMDS serves when no identity is named.
pub const DEFAULT_MANAGED_IDENTITY_CLIENT_ID: &str = "33333333-3333-3333-3333-333333333333";
