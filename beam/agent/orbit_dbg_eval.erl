%% How a breakpoint condition is evaluated, and everything else the debugger evaluates or shows: what
%% the interpreter asks at each breakpoint check (conditions, hit counts and log messages, parsed once,
%% Elixir or Erlang, evaluated with the frame's bindings), evaluation in a paused frame, errors worded
%% as the frame's language prints them, values as the language prints them. Used by the interpreter
%% path (orbit_dbg_pass asks check/3 on the first check of each pass over a line) and by the
%% tracepoints (orbit_dbg_trace, with a clause's bindings instead of a frame's).
-module(orbit_dbg_eval).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([clear_conditions/1, condition/2, check/3, elixir_name/1, elixir_binding/1, erlang_binding/1,
         eval_parsed/2, eval_named/2, format_exception/4, inspect/2, inspect_naming_nodes/2, parse_expr/2,
         parse_opt/2, parse_log/2, truthy/1, hit_reached/2, log_value/3, raised/3, set_condition/2]).

%% Conditions, hit counts and log points (evaluated in the interpreter's meta process)

%% Spec: #{id, module, line, lang := elixir | erlang, condition := undefined | Source,
%%         hit := none | {eq | ge | gt | mod, N}, log := undefined | Source, events := Pid}
%% Sources are parsed here once; a source that does not parse is returned as {error, Message}.
set_condition(Slot, Spec0) ->
    try
        Lang = maps:get(lang, Spec0),
        Cond = parse_opt(Lang, maps:get(condition, Spec0, undefined)),
        Log = parse_log(Lang, maps:get(log, Spec0, undefined)),
        Spec = Spec0#{condition := Cond, log => Log, condition_src => src(maps:get(condition, Spec0, undefined)),
                      simple => simple_points(maps:get(points, Spec0, []))},
        ets:insert(orbit_dbg_conds, [{Slot, Spec}, {{count, Slot}, 0}]),
        ok
    catch
        throw:{parse_error, Msg} -> {error, Msg};
        error:badarg -> {error, <<"no debug session on this node">>}
    end.

%% Whether each of a breakpoint's points {Module, Line} is the start of exactly one expression of any body
%% (what dbg_ieval:seq/3 checks a breakpoint before): then every check there is a new pass. false where
%% the code cannot be read, so that the pass rule decides.
simple_points([]) -> false;
simple_points(Points) ->
    lists:all(fun({M, L}) ->
                      case catch orbit_dbg_code:abstract_code(M) of
                          {ok, Forms, _} -> body_starts(Forms, L, 0) =:= 1;
                          _ -> false
                      end;
                 (_) -> false
              end, Points).

body_starts([], _L, N) -> N;
body_starts([H | T], L, N) -> body_starts(T, L, body_starts(H, L, N));
body_starts({clause, _, Ps, Gs, Body}, L, N) -> body_starts([Ps, Gs, Body], L, N + on(Body, L));
body_starts({block, _, Body}, L, N) -> body_starts(Body, L, N + on(Body, L));
body_starts({'try', _, Body, Cs1, Cs2, After}, L, N) ->
    body_starts([Body, Cs1, Cs2, After], L, N + on(Body, L) + on(After, L));
body_starts({'receive', _, Cs, T, After}, L, N) -> body_starts([Cs, T, After], L, N + on(After, L));
body_starts({'maybe', _, Body}, L, N) -> body_starts(Body, L, N + on(Body, L));
body_starts({'maybe', _, Body, Else}, L, N) -> body_starts([Body, Else], L, N + on(Body, L));
body_starts(T, L, N) when is_tuple(T), tuple_size(T) > 1 -> body_starts(tl(tuple_to_list(T)), L, N);
body_starts(_, _L, N) -> N.

on(Body, L) when is_list(Body) ->
    length([E || E <- Body, is_tuple(E), tuple_size(E) >= 2, orbit_dbg_code:line(element(2, E)) =:= L]);
on(_, _) -> 0.

src(B) when is_binary(B) -> B;
src(_) -> <<>>.

clear_conditions(Slots) ->
    catch [ets:delete(orbit_dbg_conds, S) || S <- Slots],
    catch [ets:delete(orbit_dbg_conds, {count, S}) || S <- Slots],
    ok.

%% A condition: undefined when there is none.
parse_opt(_Lang, undefined) -> undefined;
parse_opt(_Lang, nil) -> undefined;
parse_opt(_Lang, <<>>) -> undefined;
parse_opt(Lang, Src) -> parse_expr(Lang, Src).

parse_expr(elixir, Src) ->
    case code:ensure_loaded('Elixir.Code') of
        {module, _} -> ok;
        _ -> throw({parse_error, <<"Elixir is not available on this node">>})
    end,
    case 'Elixir.Code':string_to_quoted(Src) of
        {ok, Quoted} -> {elixir, Quoted};
        {error, {Meta, Msg, Token}} ->
            throw({parse_error, iolist_to_binary([format_meta(Meta), to_bin(Msg), to_bin(Token)])})
    end;
parse_expr(erlang, Src) ->
    Text = unicode:characters_to_list(Src),
    Dotted = case lists:reverse(string:trim(Text)) of [$. | _] -> Text; _ -> Text ++ "." end,
    case erl_scan:string(Dotted) of
        {ok, Tokens, _} ->
            case erl_parse:parse_exprs(Tokens) of
                {ok, Exprs} -> {erlang, Exprs};
                {error, {_, Mod, Desc}} -> throw({parse_error, unicode:characters_to_binary(Mod:format_error(Desc))})
            end;
        {error, {_, Mod, Desc}, _} -> throw({parse_error, unicode:characters_to_binary(Mod:format_error(Desc))})
    end.

format_meta(Meta) when is_list(Meta) ->
    case proplists:get_value(line, Meta) of
        undefined -> <<>>;
        L -> iolist_to_binary(io_lib:format("line ~p: ", [L]))
    end;
format_meta(L) when is_integer(L) -> iolist_to_binary(io_lib:format("line ~p: ", [L]));
format_meta(_) -> <<>>.

to_bin(B) when is_binary(B) -> B;
to_bin(L) when is_list(L) -> unicode:characters_to_binary(io_lib:format("~ts", [L]));
to_bin({A, B}) -> <<(to_bin(A))/binary, (to_bin(B))/binary>>;
to_bin(T) -> unicode:characters_to_binary(io_lib:format("~tp", [T])).

%% A log message: "x is {x}" -> [<<"x is ">>, {expr, Parsed}]; undefined when there is none.
parse_log(_Lang, undefined) -> undefined;
parse_log(_Lang, nil) -> undefined;
parse_log(Lang, Src) -> parse_log(Lang, Src, <<>>, []).

parse_log(_Lang, <<>>, Lit, Acc) -> lists:reverse([Lit | Acc]);
parse_log(Lang, <<"{{", Rest/binary>>, Lit, Acc) -> parse_log(Lang, Rest, <<Lit/binary, "{">>, Acc);
parse_log(Lang, <<"}}", Rest/binary>>, Lit, Acc) -> parse_log(Lang, Rest, <<Lit/binary, "}">>, Acc);
parse_log(Lang, <<"{", Rest/binary>>, Lit, Acc) ->
    case binary:split(Rest, <<"}">>) of
        [Expr, After] -> parse_log(Lang, After, <<>>, [{expr, parse_expr(Lang, Expr)}, Lit | Acc]);
        [_] -> throw({parse_error, <<"log message has a '{' without its '}'">>})
    end;
parse_log(Lang, <<C, Rest/binary>>, Lit, Acc) -> parse_log(Lang, Rest, <<Lit/binary, C>>, Acc).

%% Called by the interpreter with the frame's bindings (newest first): true stops, anything else does not.
%% Every breakpoint Orbit sets has a slot, so that every check of every breakpoint comes through here.
%% No spec (no session on this node any more, its keeper gone): no stop, so that a breakpoint outliving
%% its session for a moment cannot pause a process that no one will continue.
condition(Slot, Bs) ->
    case catch ets:lookup(orbit_dbg_conds, Slot) of
        [{Slot, Spec}] -> orbit_dbg_pass:pass_check(Slot, Spec, Bs);
        _ -> false
    end.

%% The first check of a pass over a breakpoint's line (orbit_dbg_pass): whether the condition holds, the
%% hit count is reached, and then a log point prints its message (no stop) or the breakpoint stops.
check(Slot, #{condition := Cond, hit := Hit} = Spec, Bs) ->
    Pass = case Cond of
               undefined -> true;
               Parsed ->
                   case eval_parsed(Parsed, Bs) of
                       {error, Msg} ->
                           %% Said on the console, and taken as not holding.
                           tell(Spec, <<"breakpoint condition `", (maps:get(condition_src, Spec, <<>>))/binary,
                                        "` failed: ", Msg/binary>>),
                           false;
                       Result -> truthy(Result)
                   end
           end,
    Pass andalso hit_ok(Slot, Hit) andalso log_or_stop(Spec, Bs).

hit_ok(Slot, Hit) ->
    hit_reached(ets:update_counter(orbit_dbg_conds, {count, Slot}, 1), Hit).

log_or_stop(#{log := undefined}, _Bs) -> true;
log_or_stop(#{log := Parts} = Spec, Bs) ->
    tell(Spec, iolist_to_binary([log_part(P, Spec, Bs) || P <- Parts])),
    false.

%% A console line about the debugged process, from its meta.
tell(#{events := Events, id := Id}, Text) ->
    Debugged = case get(self) of P when is_pid(P) -> P; _ -> self() end,
    Events ! {orbit_dbg_log, Id, node(), Debugged, Text}.

log_part(B, _Spec, _Bs) when is_binary(B) -> B;
log_part({expr, Parsed}, #{lang := Lang}, Bs) -> log_value(Lang, eval_parsed(Parsed, Bs), inspect).

%% The rules a breakpoint and a tracepoint share.

%% Whether a condition's value holds: anything but false and nil (an error does not hold).
truthy({ok, false}) -> false;
truthy({ok, nil}) -> false;
truthy({ok, _}) -> true;
truthy(_) -> false.

%% Whether the Nth hit (counted from 1, when the condition holds) is one the hit count lets through.
hit_reached(_N, none) -> true;
hit_reached(N, {eq, K}) -> N =:= K;
hit_reached(N, {ge, K}) -> N >= K;
hit_reached(N, {gt, K}) -> N > K;
hit_reached(N, {mod, K}) -> K > 0 andalso N rem K =:= 0.

%% One `{...}` of a log message as printed: an Elixir string as it is, any other value as the language
%% prints it (Inspect: inspect or inspect_naming_nodes), an error as <error: Message>.
log_value(elixir, {ok, V}, _Inspect) when is_binary(V) -> V;
log_value(Lang, {ok, V}, inspect) -> inspect(Lang, V);
log_value(Lang, {ok, V}, inspect_naming_nodes) -> inspect_naming_nodes(Lang, V);
log_value(_Lang, {error, Msg}, _Inspect) -> <<"<error: ", Msg/binary, ">">>.

%% `{return}` in a tracepoint's message when the call raised: "raised ** (ArithmeticError) …" in Elixir,
%% "raised error:badarith" in Erlang.
raised(elixir, Class, Reason) ->
    try 'Elixir.Exception':format_banner(Class, Reason, []) of
        B -> <<"raised ", (unicode:characters_to_binary(B))/binary>>
    catch _:_ -> raised(erlang, Class, Reason)
    end;
raised(erlang, Class, Reason) ->
    unicode:characters_to_binary(io_lib:format("raised ~p:~0tP", [Class, Reason, 20])).

%% ---------------------------------------------------------------------------------------------
%% Evaluation with a frame's bindings

%% Evaluates a parsed expression with raw interpreter bindings; {ok, Value} | {error, Message}.
eval_parsed({elixir, _} = Parsed, Bs) ->
    eval_named(Parsed, elixir_binding(Bs));
eval_parsed({erlang, _} = Parsed, Bs) ->
    eval_named(Parsed, lists:reverse(Bs)).

%% Evaluates a parsed expression with bindings as the language names them ([{Name, Value}]; Erlang: a
%% later one of the same name wins); {ok, Value} | {error, Message}.
eval_named({elixir, Quoted}, Named) ->
    Eval = fun() ->
                   try 'Elixir.Code':eval_quoted(Quoted, Named) of
                       {V, _} -> {ok, V}
                   catch C:R:St -> {raised, C, R, St}
                   end
           end,
    case with_diagnostics(Eval) of
        {{ok, V}, _} -> {ok, V};
        {{raised, C, R, St}, Diagnostics} -> {error, compile_diagnostic(Diagnostics, format_exception(elixir, C, R, St))}
    end;
eval_named({erlang, Exprs}, Named) ->
    try erl_eval:exprs(Exprs, add_bindings(Named)) of
        {value, V, _} -> {ok, V}
    catch C:R:St -> {error, format_exception(erlang, C, R, St)}
    end.

%% Elixir 1.15+ reports what stops an expression from compiling (an undefined variable…) as diagnostics,
%% and the exception only says "cannot compile file (errors have been logged)": capture them (not logged).
with_diagnostics(Fun) ->
    case erlang:function_exported('Elixir.Code', with_diagnostics, 2) of
        true -> 'Elixir.Code':with_diagnostics([{log, false}], Fun);
        false -> {Fun(), []}
    end.

compile_diagnostic(Diagnostics, Banner) ->
    case [M || #{severity := error, message := M} <- Diagnostics, is_binary(M)] of
        [Message | _] -> strip_nofile(Message);
        [] -> Banner
    end.

%% An exception as the language of the frame prints it: Elixir's banner (`** (ArithmeticError) bad
%% argument in arithmetic expression`), Erlang's own wording for Erlang code. The stack is left out: it
%% is the evaluator's, not the user's. Elixir 1.14 reports an unbound variable as a call to an undefined
%% function of arity 0; it is named as what the user wrote, a variable (as Elixir 1.15 does).
format_exception(elixir, C, R, St) ->
    case code:ensure_loaded('Elixir.Exception') of
        {module, _} ->
            Banner = 'Elixir.Exception':format_banner(C, R, St),
            case re:run(Banner, "undefined function ([a-z_][a-zA-Z0-9_]*)/0 \\(there is no such import\\)",
                        [{capture, all_but_first, binary}, unicode]) of
                {match, [Var]} -> <<"undefined variable \"", Var/binary, "\"">>;
                nomatch -> strip_nofile(Banner)
            end;
        _ -> format_exception(erlang, C, R, St)
    end;
format_exception(erlang, error, {unbound_var, V}, _St) ->
    unicode:characters_to_binary(io_lib:format("variable ~tp is unbound", [V]));
format_exception(erlang, C, R, St) ->
    Text = try erl_error:format_exception(C, R, St, #{stack_trim_fun => fun(_, _, _) -> true end,
                                                      column => 1})
           catch _:_ -> io_lib:format("~p: ~tp", [C, R])
           end,
    string:trim(unicode:characters_to_binary(Text)).

strip_nofile(Banner) ->
    re:replace(Banner, "^\\*\\* \\(CompileError\\) nofile:[0-9]+: ", "** (CompileError) ", [{return, binary}, unicode]).

%% Interpreter bindings of Elixir code name variables `_x@N`; the highest N is the current one.
elixir_binding(Bs) ->
    Best = lists:foldl(
             fun({Var, Val}, Acc) ->
                     case elixir_name(Var) of
                         {Name, N} ->
                             case maps:find(Name, Acc) of
                                 {ok, {M, _}} when M >= N -> Acc;
                                 _ -> Acc#{Name => {N, Val}}
                             end;
                         none -> Acc
                     end
             end, #{}, Bs),
    [{Name, Val} || {Name, {_, Val}} <- maps:to_list(Best)].

elixir_name(Var) ->
    case re:run(atom_to_list(Var), "^_(.+)@([0-9]+)$", [{capture, all_but_first, list}, unicode]) of
        {match, [Name, N]} -> {list_to_atom(Name), list_to_integer(N)};
        nomatch -> none
    end.

%% Interpreter bindings (newest first) as erl_eval's.
erlang_binding(Bs) ->
    add_bindings(lists:reverse(Bs)).

add_bindings(Named) ->
    lists:foldl(fun({Var, Val}, Acc) -> erl_eval:add_binding(Var, Val, Acc) end, erl_eval:new_bindings(), Named).

%% A value as the language prints it.
inspect(elixir, V) ->
    case code:is_loaded('Elixir.Kernel') of
        {file, _} -> 'Elixir.Kernel':inspect(V, [{limit, 50}, {printable_limit, 1024}]);
        false -> inspect(erlang, V)
    end;
inspect(erlang, V) -> unicode:characters_to_binary(io_lib:format("~0tP", [V, 20])).

%% The same, pids of other nodes naming their node (#PID<b@host.123.0>): the tracepoints' lines.
inspect_naming_nodes(Lang, V) ->
    lists:foldl(fun(P, T) ->
                        "<" ++ Inner = pid_to_list(P),
                        [_ | Rest] = string:split(Inner, "."),
                        Named = iolist_to_binary(["<", atom_to_list(node(P)), ".", Rest]),
                        binary:replace(T, list_to_binary(pid_to_list(P)), Named, [global])
                end, inspect(Lang, V), remote_pids(V, 6, [])).

remote_pids(_, 0, Acc) -> Acc;
remote_pids(P, _, Acc) when is_pid(P), node(P) =/= node() ->
    case lists:member(P, Acc) orelse length(Acc) >= 50 of
        true -> Acc;
        false -> [P | Acc]
    end;
remote_pids(T, D, Acc) when is_tuple(T) -> remote_pids(tuple_to_list(T), D - 1, Acc);
remote_pids(M, D, Acc) when is_map(M) -> remote_pids(maps:to_list(M), D - 1, Acc);
remote_pids(L, D, Acc) when is_list(L) -> remote_list(L, D, Acc, 100);
remote_pids(_, _, Acc) -> Acc.

remote_list(_, _, Acc, 0) -> Acc;
remote_list([H | T], D, Acc, N) -> remote_list(T, D, remote_pids(H, D - 1, Acc), N - 1);
remote_list(_, _, Acc, _) -> Acc.

%% ---------------------------------------------------------------------------------------------
