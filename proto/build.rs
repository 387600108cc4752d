//! Compiles `ssoagent/v1/agent.proto` with protox, so no system `protoc` is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=ssoagent");
    let fds = protox::compile(["ssoagent/v1/agent.proto"], ["."])?;
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
