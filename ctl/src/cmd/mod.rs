//! One module per command (or per small family of commands).

pub mod configure;
pub mod demo;
pub mod doctor;
pub mod env;
pub mod service;
pub mod status;
pub mod unlock;
