//! Terms as nodes send them (`eetf::Term`): building them, looking into them, ordering them as the BEAM
//! does, and printing them in Elixir or Erlang syntax within [`Limits`].
//!
//! Rendering and comparison never recurse per level of nesting, so no term, however deep, can overflow
//! the stack through them. (Decoding and dropping such a term is another matter: see [`drop_deep`].)

mod accessors;
#[cfg(test)]
mod arbitrary;
mod builders;
mod context;
mod elixir_atom;
mod elixir_structs;
mod escape;
mod float;
mod limits;
mod list;
mod order;
mod render_elixir;
mod render_erlang;
mod wire;

pub use accessors::{
    as_atom, as_binary, as_f64, as_integer, as_list, as_str, as_text, as_tuple, as_u64, atom_names, is_atom, is_nil,
    map_get, map_get_atom, proplist_get, text,
};
pub use builders::{atom, binary, drop_deep, int, keyword, list, map, nil, tuple};
pub use context::{RenderContext, NO_NODE};
/// How Elixir writes an atom as a value (`:ok`, `:"a b"`) and as the function of a remote call
/// (`Kernel.+`, `Mod."odd name"`): the one place for Elixir quoting.
pub use elixir_atom::{literal as elixir_atom_literal, remote_call as elixir_function_name};
pub use float::{elixir_float, erlang_float};
pub use limits::{Limits, ELLIPSIS, HARD_MAX_DEPTH};
pub use order::{compare, compare_exact, sorted_map_entries};
pub use render_elixir::{render_elixir, render_elixir_with};
pub use render_erlang::{erlang_atom, render_erlang, render_erlang_with};
pub use wire::{make_wire_safe, nesting_depth, unsendable, Malformed};
