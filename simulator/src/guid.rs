//! Generated identifiers: GUIDs derived from a seed (stable across runs, so generated IDs compare in tests), the
//! `resourceGuid` of a resource, and fresh etags.

/// The `resourceGuid` of the resource with this ID, which flow logs report as `targetResourceGuid`.
pub(super) fn resource_guid(id: &str) -> String {
    derived_guid(&format!("resourceGuid:{}", id.to_ascii_lowercase()))
}

/// A GUID derived from `seed`: stable across runs, so generated IDs compare in tests.
pub(super) fn derived_guid(seed: &str) -> String {
    // FNV-1a from two offsets: stable and distinct enough for test GUIDs.
    let hash = |offset: u64| seed.bytes().fold(offset, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hash(0xcbf2_9ce4_8422_2325).to_be_bytes());
    bytes[8..].copy_from_slice(&hash(0x8422_2325_cbf2_9ce4).to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// A new weak etag, for a resource just written.
pub(super) fn new_etag() -> String {
    format!("W/\"{}\"", uuid::Uuid::new_v4())
}
