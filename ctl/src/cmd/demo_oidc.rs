//! `ssoagentctl demo --oidc`: the same story with your own identity provider instead of IAM
//! Identity Center: a `[providers.demo]` at the emulator's OIDC IdP and a profile that assumes
//! a role with its id_token (STS AssumeRoleWithWebIdentity), as README's section has them.

use std::path::Path;

/// The agent config and `~/.aws/config` of the OIDC demo.
pub fn files(url: &str, cred: &Path) -> (String, String) {
    let agent = format!(
        "store = \"file\"\naws_cli_cache = \"off\"\n\n\
         [providers.demo]\n\
         issuer = \"{url}/idp\"\n\
         client_id = \"0oa-demo-client\"\n\
         scopes = [\"openid\", \"email\", \"offline_access\"]\n"
    );
    let config = format!(
        "[profile demo]\n\
         ssoagent_provider = demo\n\
         ssoagent_role_arn = arn:aws:iam::111111111111:role/BedrockUser\n\
         region = us-east-1\n\
         credential_process = {} --profile demo\n",
        cred.display()
    );
    (agent, config)
}
