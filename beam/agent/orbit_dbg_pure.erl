%% Read-only mode: whether an expression only reads (no side effect, no message, no process).
-module(orbit_dbg_pure).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([forget/1, pure/2, set_variable/5, store/1, stored/1, struct_fields/1,
         take/1]).

%% Read-only mode: is an expression a pure read?
%%
%% Allowed is Orbit's list of {Module, Function, Arity | '_'} (beam/src/read_only.rs decides it). Every
%% call the expression makes must be on it: Elixir after expanding Kernel's macros (`if`, `|>`, `and`, ...),
%% with Kernel functions taken as the BIFs the compiler inlines them to; Erlang as parsed. What is never a
%% pure read is refused as a construct: sending, receiving, calling a function value or a module held in a
%% variable, import/require/alias, comprehensions (they run a protocol's code). Elixir's `x.field` is
%% rewritten to :erlang.map_get/2, since Elixir calls x:field() when x holds a module.
%% {ok, Parsed} | {refused, [{M, F, A} | {construct, Text}]}.
pure({elixir, Quoted}, Allowed) ->
    Env = try 'Elixir.Code':env_for_eval([]) catch error:undef -> elixir:env_for_eval([]) end,
    {Q, Found} = ex_pure(Quoted, Env, []),
    pure_verdict({elixir, Q}, Found, Allowed);
pure({erlang, Exprs}, Allowed) ->
    pure_verdict({erlang, Exprs}, erl_pure(Exprs, []), Allowed).

pure_verdict(Parsed, Found, Allowed) ->
    Bad = [I || I <- lists:reverse(Found), not pure_allowed(I, Allowed)],
    case Bad of
        [] -> {ok, Parsed};
        _ -> {refused, dedup(Bad)}
    end.

pure_allowed({M, F, A}, Allowed) when is_atom(M) ->
    lists:member({M, F, A}, Allowed) orelse lists:member({M, F, '_'}, Allowed);
pure_allowed(_, _) -> false.

dedup(L) -> dedup(L, []).
dedup([], Acc) -> lists:reverse(Acc);
dedup([H | T], Acc) -> case lists:member(H, Acc) of true -> dedup(T, Acc); false -> dedup(T, [H | Acc]) end.

construct(Text) -> {construct, unicode:characters_to_binary(Text)}.

%% Plain functions, not macros: a node without an agent binary for its release compiles these sources
%% from parsed forms, with no preprocessor.
ex_refused() ->
    ['receive', import, require, alias, super, for, quote, unquote, unquote_splicing,
     defmodule, def, defp, defmacro].

ex_forms() ->
    ['__block__', '&', '=', 'case', 'cond', '->', 'fn', '%{}', '{}', '%', '<<>>', '^', 'when',
     'with', 'try', '|', '<-', '\\\\', '__aliases__', '__MODULE__', '__DIR__', '__ENV__',
     '__STACKTRACE__', '__CALLER__'].

%% Elixir: {Quoted', Found}.
%% A capture `&Mod.fun/1` only makes a function value (which nothing on the list can call).
ex_pure({'&', _, [{'/', _, [_, A]}]} = N, _Env, Acc) when is_integer(A) -> {N, Acc};
ex_pure({'::', M, [Expr, Type]}, Env, Acc) ->
    {E, Acc1} = ex_pure(Expr, Env, Acc),
    {{'::', M, [E, Type]}, Acc1};
%% `var.field` (no parentheses, the left side not a module): a map's field.
ex_pure({{'.', DM, [Left, Field]}, CM, []}, Env, Acc) when is_atom(Field), not is_atom(Left) ->
    case is_tuple(Left) andalso element(1, Left) =:= '__aliases__' of
        false ->
            case lists:keyfind(no_parens, 1, CM) of
                {no_parens, true} ->
                    {L, Acc1} = ex_pure(Left, Env, Acc),
                    {{{'.', DM, [erlang, map_get]}, lists:keydelete(no_parens, 1, CM), [Field, L]}, Acc1};
                _ -> ex_remote({{'.', DM, [Left, Field]}, CM, []}, Env, Acc)
            end;
        true -> ex_remote({{'.', DM, [Left, Field]}, CM, []}, Env, Acc)
    end;
ex_pure({{'.', _, [_Mod, Fun]}, _, Args} = N, Env, Acc) when is_atom(Fun), is_list(Args) ->
    ex_remote(N, Env, Acc);
ex_pure({{'.', _, [_Fun]}, _, Args}, Env, Acc) when is_list(Args) ->
    ex_args(Args, Env, [construct(<<"calling a function value">>) | Acc]);
ex_pure({Name, _, Args} = N, Env, Acc) when is_atom(Name), is_list(Args) ->
    case lists:member(Name, ex_refused()) of
        true -> {nil, [construct(atom_to_binary(Name, utf8)) | Acc]};
        false -> ex_local(N, Env, Acc)
    end;
ex_pure({Name, _, Ctx} = Var, _Env, Acc) when is_atom(Name), is_atom(Ctx) -> {Var, Acc};
ex_pure({Call, M, Args}, Env, Acc) when is_list(Args) ->
    %% A call whose head is an expression (e.g. the result of a call).
    {_, Acc1} = ex_pure(Call, Env, Acc),
    {{Call, M, Args}, [construct(<<"calling a function value">>) | Acc1]};
ex_pure({A, B}, Env, Acc) ->
    {A1, Acc1} = ex_pure(A, Env, Acc),
    {B1, Acc2} = ex_pure(B, Env, Acc1),
    {{A1, B1}, Acc2};
ex_pure(L, Env, Acc) when is_list(L) -> ex_args(L, Env, Acc);
ex_pure(Literal, _Env, Acc) -> {Literal, Acc}.

ex_args(Args, Env, Acc) ->
    lists:mapfoldl(fun(A, Ac) -> ex_pure(A, Env, Ac) end, Acc, Args).

ex_local({Name, Meta, Args} = N, Env, Acc) ->
    case lists:member(Name, ex_forms()) of
        true -> {As, Acc1} = ex_args(Args, Env, Acc), {{Name, Meta, As}, Acc1};
        false ->
            case ex_expand(N, Env) of
                {expanded, E} -> ex_pure(E, Env, Acc);
                {error, Msg} -> {N, [construct(Msg) | Acc]};
                same ->
                    %% A Kernel function (what a call without a module reaches in an evaluation).
                    {As, Acc1} = ex_args(Args, Env, Acc),
                    {{Name, Meta, As}, [ex_inline('Elixir.Kernel', Name, length(Args)) | Acc1]}
            end
    end.

ex_remote({{'.', DM, [Mod, Fun]}, CM, Args} = N, Env, Acc) ->
    case ex_expand(N, Env) of
        {expanded, E} -> ex_pure(E, Env, Acc);
        {error, Msg} -> {N, [construct(Msg) | Acc]};
        same ->
            {As, Acc1} = ex_args(Args, Env, Acc),
            Found = case ex_module(Mod, Env) of
                        {ok, M} -> ex_inline(M, Fun, length(Args));
                        error -> construct(<<"calling a module held in a variable">>)
                    end,
            {{{'.', DM, [Mod, Fun]}, CM, As}, [Found | Acc1]}
    end.

ex_module(M, _Env) when is_atom(M) -> {ok, M};
ex_module({'__aliases__', _, _} = A, Env) ->
    case catch 'Elixir.Macro':expand(A, Env) of
        M when is_atom(M) -> {ok, M};
        _ -> error
    end;
ex_module(_, _) -> error.

%% One step of macro expansion (Kernel's macros; nothing else is required in an evaluation).
ex_expand(N, Env) ->
    try 'Elixir.Macro':expand_once(N, Env) of
        N -> same;
        E -> {expanded, E}
    catch C:R:St -> {error, ["cannot be checked: ", orbit_dbg_eval:format_exception(elixir, C, R, St)]}
    end.

%% A call as the compiler emits it: Kernel.length/1 is :erlang.length/1, Map.keys/1 is :maps.keys/1.
ex_inline(M, F, A) ->
    case catch elixir_rewrite:inline(M, F, A) of
        {IM, IF} when is_atom(IM), is_atom(IF) -> {IM, IF, A};
        _ -> {M, F, A}
    end.

%% Erlang: Found, walking every subterm of the abstract format.
erl_pure({call, _, {remote, _, {atom, _, M}, {atom, _, F}}, Args}, Acc) ->
    erl_pure(Args, [{M, F, length(Args)} | Acc]);
erl_pure({call, _, {atom, _, F}, Args}, Acc) ->
    Found = case erl_internal:bif(F, length(Args)) of
                true -> {erlang, F, length(Args)};
                false -> construct(io_lib:format("~tp/~b (a local function)", [F, length(Args)]))
            end,
    erl_pure(Args, [Found | Acc]);
erl_pure({call, _, {remote, _, _, _} = R, Args}, Acc) ->
    erl_pure([R | Args], [construct(<<"calling a module held in a variable">>) | Acc]);
erl_pure({call, _, Other, Args}, Acc) ->
    erl_pure([Other | Args], [construct(<<"calling a function value">>) | Acc]);
erl_pure({op, _, '!', L, R}, Acc) -> erl_pure([L, R], [construct(<<"!">>) | Acc]);
erl_pure({'receive', _, _} , Acc) -> [construct(<<"receive">>) | Acc];
erl_pure({'receive', _, _, _, _}, Acc) -> [construct(<<"receive">>) | Acc];
erl_pure(T, Acc) when is_tuple(T) -> erl_pure(tuple_to_list(T), Acc);
erl_pure([H | T], Acc) -> erl_pure(T, erl_pure(H, Acc));
erl_pure(_, Acc) -> Acc.

%% Results of evaluations are kept (for expanding them) until forget/1 or the keeper ends.
store(V) ->
    Ref = erlang:unique_integer([positive]),
    catch ets:insert(orbit_dbg_conds, {{stored, Ref}, V}),
    Ref.

stored(Ref) ->
    case catch ets:lookup(orbit_dbg_conds, {stored, Ref}) of
        [{_, V}] -> {ok, V};
        _ -> {error, expired}
    end.

forget(Refs) ->
    catch [ets:delete(orbit_dbg_conds, {stored, R}) || R <- Refs],
    ok.

take(Key) ->
    [{_, V}] = ets:take(orbit_dbg_conds, {set_value, Key}),
    V.

%% Gives the interpreter variable Var (e.g. '_amount@1') the value of Source, evaluated with the
%% frame's bindings. Only the top frame can be changed (the interpreter's rule).
set_variable(Meta, Var, Lang, Source, _Opts) ->
    try
        {ok, Bs} = orbit_dbg_step:bindings(Meta, nostack),
        case orbit_dbg_eval:eval_parsed(orbit_dbg_eval:parse_expr(Lang, Source), Bs) of
            {ok, V} ->
                Key = erlang:unique_integer([positive]),
                ets:insert(orbit_dbg_conds, {{set_value, Key}, V}),
                Cmd = lists:flatten(io_lib:format("~s = orbit_dbg:take(~p).", [quote_var(Var), Key])),
                Meta ! {user, {eval, {self(), orbit_dbg, Cmd, nostack}}},
                receive
                    {Meta, {eval_rsp, 'Parse error'}} -> {error, <<"the interpreter could not parse the assignment">>};
                    {Meta, {eval_rsp, 'Only possible to inspect variables'}} ->
                        {error, <<"the process is not stopped at a breakpoint">>};
                    {Meta, {eval_rsp, {'EXIT', R}}} -> {error, unicode:characters_to_binary(io_lib:format("~tp", [R]))};
                    {Meta, {eval_rsp, New}} -> {ok, orbit_dbg_step:shrink(New, orbit_dbg_step:limits()), orbit_dbg_step:kind(New), orbit_dbg_step:size_of(New), store(New)}
                after 5000 -> {error, <<"the interpreter did not answer">>}
                end;
            {error, Msg} -> {error, Msg}
        end
    catch throw:{parse_error, M} -> {error, M}
    end.

quote_var(Var) -> atom_to_list(Var).

%% The field order of Elixir structs, as `defstruct` declared them (Orbit prints structs in that order, as
%% `inspect` does): [{Module, [Field]}] for the modules that are structs here.
struct_fields(Mods) ->
    lists:filtermap(
      fun(M) ->
              case code:ensure_loaded(M) =:= {module, M} andalso erlang:function_exported(M, '__info__', 1) of
                  true ->
                      case catch M:'__info__'(struct) of
                          Fields when is_list(Fields) ->
                              {true, {M, [F || #{field := F} <- Fields]}};
                          _ -> false
                      end;
                  false -> false
              end
      end, Mods).

%% ---------------------------------------------------------------------------------------------
