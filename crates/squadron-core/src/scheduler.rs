//! The squad scheduler: a sans-IO state machine, `handle(event, now) -> Vec<Command>`.
