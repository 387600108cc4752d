//! The gRPC messages the daemon and its clients decode: any bytes decode to a message or an
//! error (never a panic), and a decoded message encodes and decodes back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use ssoagent_proto::v1 as pb;

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(m) = M::decode(data) {
        let bytes = m.encode_to_vec();
        let again = M::decode(bytes.as_slice()).expect("re-decode what we encoded");
        assert_eq!(m, again);
    }
    let _ = M::decode_length_delimited(data);
}

fuzz_target!(|data: &[u8]| {
    // What the daemon decodes (requests from any local process).
    round_trip::<pb::GetCredentialsRequest>(data);
    round_trip::<pb::UnlockRequest>(data);
    round_trip::<pb::LockRequest>(data);
    round_trip::<pb::LogoutRequest>(data);
    round_trip::<pb::StatusRequest>(data);
    round_trip::<pb::ListAccountsRequest>(data);
    round_trip::<pb::WhoAmIRequest>(data);
    // What the clients decode (answers from whatever listens on the socket).
    round_trip::<pb::Credentials>(data);
    round_trip::<pb::StatusResponse>(data);
    round_trip::<pb::UnlockEvent>(data);
    round_trip::<pb::ListAccountsResponse>(data);
    round_trip::<pb::Identity>(data);
});
