//! Worlds with OIDC identity providers (issue 12): `[providers.corp]` (AssumeRoleWithWebIdentity)
//! and `[providers.pool]` (a Cognito identity pool), both at the emulator's IdP, and profiles
//! that use them.

use crate::{Out, World};

pub const PROVIDER: &str = "corp";
pub const POOL_PROVIDER: &str = "pool";
pub const CLIENT_ID: &str = "0oa-ssoagent-test";
pub const POOL_ID: &str = "us-east-1:11111111-2222-3333-4444-555555555555";
pub const ROLE_ARN: &str = "arn:aws:iam::111111111111:role/BedrockUser";
/// The profile that assumes [`ROLE_ARN`] with corp's id_token.
pub const PROFILE: &str = "bedrock";
/// The profile that gets credentials from the identity pool.
pub const POOL_PROFILE: &str = "pooled";

/// The agent config: the file store, presence `tty`, and both providers (`extra` is added to
/// corp's block).
pub fn agent_config(w: &World, extra: &str) -> String {
    let issuer = w.emu.issuer();
    format!(
        "store = \"file\"\npresence = \"tty\"\n\n\
         [providers.{PROVIDER}]\nissuer = \"{issuer}\"\nclient_id = \"{CLIENT_ID}\"\n{extra}\n\
         [providers.{POOL_PROVIDER}]\nissuer = \"{issuer}\"\nclient_id = \"{CLIENT_ID}\"\n\
         identity_pool_id = \"{POOL_ID}\"\n"
    )
}

/// The profiles, with `credential_process` lines as the README has them.
pub fn aws_profiles() -> String {
    let cred = crate::bin("ssoagent-cred");
    let cred = cred.display();
    format!(
        "\n[profile {PROFILE}]\nssoagent_provider = {PROVIDER}\nssoagent_role_arn = {ROLE_ARN}\n\
         region = us-east-1\ncredential_process = {cred} --profile {PROFILE}\n\n\
         [profile {POOL_PROFILE}]\nssoagent_provider = {POOL_PROVIDER}\nregion = us-east-1\n\
         credential_process = {cred} --profile {POOL_PROFILE}\n"
    )
}

/// A World with both providers configured (`extra` in corp's block) and no daemon yet.
pub fn world_with(extra: &str) -> World {
    let mut w = World::new();
    w.set_env("AWS_ENDPOINT_URL_COGNITO_IDENTITY", w.emu.url());
    w.write_agent_config(&agent_config(&w, extra));
    w.append_aws_config(&aws_profiles());
    w
}

/// A World with both providers and a running daemon.
pub fn world() -> World {
    let mut w = world_with("");
    w.start_daemon();
    w
}

/// `ssoagentctl unlock NAME` with the fake browser following the IdP's redirect.
pub fn unlock(w: &World, name: &str) -> Out {
    w.ctl(&["unlock", name])
}
