//! `tickwire-server`: the arena, with the field and rounds its flags set ([`command::main`]).

use std::process::ExitCode;
use tickwire_server::command;
use tickwire_server::game::arena::Arena;

fn main() -> ExitCode {
    command::main(|config| {
        let arena = config.arena();
        move |_room, seed| Arena::new(arena.clone(), seed)
    })
}
