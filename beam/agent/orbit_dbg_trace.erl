%% Tracepoints: the debugger's log points that do not interpret their module.
%%
%% A log point on the first line of a function clause (Elixir's `def` line) whose message and condition
%% use only that clause's argument variables, or a function breakpoint marked as a log point, is served
%% here with OTP's trace facilities instead of the interpreter, so the module runs native code.
%%
%% - plan/5 (on one node) decides whether a line log point can be a tracepoint: which function and
%%   clause it names, whether its `{...}` expressions and condition use only the clause's arguments.
%% - set/2 gives the session's tracer on this node the whole set of tracepoints (started on the first
%%   call; an empty set stops it). One tracer per node and debug session, registered orbit_dbg_tracer.
%% - The tracer sets meta trace patterns (erlang:trace_pattern(MFA, MS, [{meta, Tracer}])): no
%%   process trace flags, so it does not clash with orbit trace, dbg or recon_trace. Where the node has
%%   trace sessions (OTP 27+) they are set in a session of the tracer's own (trace:function(S, MFA, MS,
%%   [meta])), so a user's meta or call_count patterns on the same function are not touched either; see
%%   "Where the patterns live" below. The match spec is
%%   built from the function's clauses where it can be, so a tracepoint on clause K is sent only calls
%%   that take clause K; it never matches the tracer's own calls. `{return}` in a message adds
%%   exception_trace: the line is printed when the call returns (or raises).
%% - Rate limit (per node, `rate` lines per second): a call_count pattern counts every call of a traced
%%   function. When a second's budget is used, the meta patterns are switched off until the second
%%   ends; then one line says how many calls were dropped (what call_count counted meanwhile) and the
%%   meta patterns are switched on again. Calls over the limit cost a counter, and each switch is one
%%   trace_pattern/3 per function. A call that still sent a message while its pattern was being
%%   switched is told apart by the message's timestamp (meta trace messages carry erlang:now/0 stamps,
%%   unique and increasing on the node): messages stamped while the patterns were off are counted, not
%%   shown.
%% - Each line goes to Orbit's event pid as a log point's does ({orbit_dbg_log, Id, Node, Pid, Text}):
%%   the tracer matches the clause with erl_eval against the abstract code, binds the clause's variables
%%   (Elixir names `_amount@1` read as `amount`) and evaluates the message there, on the node. Messages
%%   and conditions are parsed, evaluated and shown by orbit_dbg_eval, as breakpoints' are, with the
%%   same truthiness and hit-count rules.
%% - The tracer ends with the session: when the debugger's keeper (orbit_dbg_keeper) exits, when
%%   Orbit's node goes, or on stop/1; on its way out it removes every pattern it set (with trace
%%   sessions: destroys its session). cleanup/2 is registered with Orbit's agent and removes what a
%%   killed tracer may have left.
%%
%% Installed from source: no macros, no includes; the tracer loops through fully qualified calls.
-module(orbit_dbg_trace).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

%% erlang:now/0: the stamps of meta trace messages come from the same clock (see the rate limit).
-compile({nowarn_deprecated_function, [{erlang, now, 0}]}).

-export([plan/5, plan/6, plan_function/6, plan_function/7, set/2, stop/1, cleanup/2, status/0, patterns/1,
         tracer_init/3, tracer_loop/1]).

%% ---------------------------------------------------------------------------------------------------
%% Planning (on one node): can this log point be a tracepoint?

%% {ok, #{function, arity, clause, md5, return}} | {no, Why} | {error, ParseMessage}
plan(Mod, Line, Lang, Log, Cond) -> plan(Mod, Line, Lang, Log, Cond, none).

%% Beam: the project's own build of Mod (or none), read where the node's copy has no debug info (a
%% release strips it) and it is the same code (md5).
plan(Mod, Line, Lang, Log, Cond, Beam) ->
    case abstract_code(Mod, Beam) of
        {ok, Forms, MD5} ->
            Heads = [{A, F, K, C} || {function, _, F, A, Cs} <- Forms,
                                     {K, C} <- lists:zip(lists:seq(1, length(Cs)), Cs),
                                     clause_line(C) =:= Line, not generated(C)],
            case lists:reverse(lists:sort(Heads)) of
                [] ->
                    {no, not_a_clause_head};
                [{A, _, _, _}, {A, _, _, _} | _] ->
                    {no, ambiguous};
                [{A, F, K, Clause} | _] ->
                    try
                        Names = head_names(Lang, Clause),
                        Return = return_name(Lang),
                        {Vars, UsesReturn} = used_vars(Lang, Log, Cond),
                        case [V || V <- Vars, not lists:member(V, [Return | Names])] of
                            [] ->
                                {ok, #{function => F, arity => A, clause => K, md5 => MD5,
                                       return => UsesReturn andalso not lists:member(Return, Names),
                                       build => from_build(Mod, Beam)}};
                            [V | _] ->
                                {no, {not_an_argument, V}}
                        end
                    catch
                        throw:{parse_error, Msg} -> {error, Msg}
                    end
            end;
        {error, Why} ->
            {no, Why}
    end.

%% A function breakpoint marked as a log point: every clause, any variable a clause binds.
%% {ok, #{line, md5, return}} | {no, Why} | {error, ParseMessage}
plan_function(Mod, F, A, Lang, Log, Cond) -> plan_function(Mod, F, A, Lang, Log, Cond, none).

plan_function(Mod, F, A, Lang, Log, Cond, Beam) ->
    case abstract_code(Mod, Beam) of
        {ok, Forms, MD5} ->
            case [Cs || {function, _, F1, A1, Cs} <- Forms, F1 =:= F, A1 =:= A] of
                [[First | _]] ->
                    try used_vars(Lang, Log, Cond) of
                        {_Vars, UsesReturn} ->
                            {ok, #{line => clause_line(First), md5 => MD5, return => UsesReturn,
                                   build => from_build(Mod, Beam)}}
                    catch
                        throw:{parse_error, Msg} -> {error, Msg}
                    end;
                _ ->
                    {no, no_such_function}
            end;
        {error, Why} ->
            {no, Why}
    end.

clause_line({clause, Anno, _, _, _}) -> orbit_dbg_code:line(Anno).

%% Whether the plan read the project's build (the node's copy has no debug info): then every node's
%% tracer needs it too.
from_build(Mod, Beam) ->
    is_binary(Beam) andalso element(1, orbit_dbg_code:abstract_code(Mod)) =/= ok.

generated({clause, Anno, _, _, _}) when is_list(Anno) -> proplists:get_bool(generated, Anno);
generated(_) -> false.

%% The names a message may use for the variables a clause's head binds.
head_names(Lang, {clause, _, Patterns, _, _}) ->
    lists:usort([Name || V <- pattern_vars(Patterns, []), {Name, _} <- [var_name(Lang, V)]]).

pattern_vars({var, _, '_'}, Acc) -> Acc;
pattern_vars({var, _, V}, Acc) -> [V | Acc];
pattern_vars(T, Acc) when is_tuple(T) -> pattern_vars(tuple_to_list(T), Acc);
pattern_vars([H | T], Acc) -> pattern_vars(T, pattern_vars(H, Acc));
pattern_vars(_, Acc) -> Acc.

%% Elixir variables are `_name@N` in the abstract code (`__name@N` for `_name`); Erlang's as written.
var_name(elixir, V) ->
    case orbit_dbg_eval:elixir_name(V) of
        none -> {V, 0};
        NameN -> NameN
    end;
var_name(erlang, V) -> {V, 0}.

%% The variables the message's expressions and the condition use; whether they use `return`.
used_vars(Lang, Log, Cond) ->
    Parts = log_parts(Lang, Log),
    Exprs = [P || {expr, P} <- Parts] ++ [P || P <- [orbit_dbg_eval:parse_opt(Lang, Cond)], P =/= undefined],
    Vars = lists:usort(lists:append([expr_vars(P) || P <- Exprs])),
    {Vars, lists:member(return_name(Lang), Vars)}.

%% ---------------------------------------------------------------------------------------------------
%% Messages and conditions

%% A log message's parts (orbit_dbg_eval parses messages and conditions for breakpoints and tracepoints
%% alike): [] when there is none.
log_parts(Lang, Log) ->
    case orbit_dbg_eval:parse_log(Lang, Log) of
        undefined -> [];
        Parts -> Parts
    end.

%% Every variable an expression names (conservatively: also those it binds itself).
expr_vars({elixir, Q}) -> lists:usort(ex_vars(Q, []));
expr_vars({erlang, Exprs}) -> lists:usort([V || V <- pattern_vars(Exprs, []), V =/= '_']).

ex_vars({Name, Meta, Ctx}, Acc) when is_atom(Name), is_list(Meta), is_atom(Ctx) ->
    case atom_to_list(Name) of
        "_" -> Acc;
        "__" ++ _ -> Acc;
        _ -> [Name | Acc]
    end;
ex_vars({'.', _, [Left, Right]}, Acc) when is_atom(Right) -> ex_vars(Left, Acc);
ex_vars({Call, _, Args}, Acc) when is_list(Args) -> ex_vars(Args, ex_vars(Call, Acc));
ex_vars({A, B}, Acc) -> ex_vars(B, ex_vars(A, Acc));
ex_vars([H | T], Acc) -> ex_vars(T, ex_vars(H, Acc));
ex_vars(_, Acc) -> Acc.

%% ---------------------------------------------------------------------------------------------------
%% Setting tracepoints on this node

%% Config: #{owner := OrbitNode, events := Pid, rate := N}. Tracepoints: [#{id, module, function, arity,
%% clause := K | all, md5 := Bin | any, lang, log, condition, hit, return}]. Returns [{Id, ok | {error,
%% Why}}]. An empty list stops the session's tracer.
set(#{events := Events} = Config, Tps) ->
    case whereis(orbit_dbg_tracer) of
        undefined when Tps =:= [] ->
            [];
        undefined ->
            request(start_tracer(Config), {set, Config, Tps});
        Pid ->
            case request(Pid, info) of
                #{events := Events} when Tps =:= [] -> stop_tracer(Pid), [];
                #{events := Events} -> request(Pid, {set, Config, Tps});
                _ when Tps =:= [] -> [];
                _ -> stop_tracer(Pid), request(start_tracer(Config), {set, Config, Tps})
            end
    end.

%% Stops the tracer of the session whose event pid is Events (any session: `any`).
stop(Events) ->
    case whereis(orbit_dbg_tracer) of
        undefined -> ok;
        Pid ->
            case request(Pid, info) of
                #{events := E} when E =:= Events; Events =:= any -> stop_tracer(Pid);
                _ -> ok
            end
    end.

%% Orbit's registered clean-up: stops the session's tracer, then removes what a tracer killed before it
%% could clean up may have left. On OTP 25/26: the patterns of MFAs that no live tracer owns. With trace
%% sessions: the tracepoint sessions no live tracer holds (a tracer's session normally ends with it); the
%% node's legacy session, where a user's own patterns are, is never touched.
cleanup(Events, MFAs) ->
    stop(Events),
    Live = whereis(orbit_dbg_tracer),
    case orbit_trace_lib:has_sessions() of
        true when Live =:= undefined ->
            [orbit_trace_lib:destroy({session, W}) || W <- orbit_trace_lib:own_sessions(orbit_dbg_trace)],
            ok;
        true ->
            case request(Live, info) of
                #{session := Kept} ->
                    [orbit_trace_lib:destroy({session, W})
                     || W <- orbit_trace_lib:own_sessions(orbit_dbg_trace), W =/= Kept],
                    ok;
                _ -> ok
            end;
        false ->
            legacy_cleanup(Live, MFAs)
    end.

legacy_cleanup(Live, MFAs) ->
    lists:foreach(fun(MFA) ->
                          case catch orbit_trace_lib:info(legacy, MFA, meta) of
                              {meta, T} when is_pid(T), T =:= Live -> ok;
                              {meta, T} when is_pid(T) ->
                                  case is_process_alive(T) of
                                      true when node(T) =:= node() -> ok;
                                      _ -> catch t_pattern(legacy, MFA, false, meta)
                                  end;
                              {meta, []} -> catch t_pattern(legacy, MFA, false, meta);
                              _ -> ok
                          end,
                          case Live of
                              undefined -> catch t_pattern(legacy, MFA, false, call_count);
                              _ -> ok
                          end
                  end, MFAs),
    ok.

%% The running tracer: #{owner, events, rate, mode, patterns} or none.
status() ->
    case whereis(orbit_dbg_tracer) of
        undefined -> none;
        Pid -> request(Pid, info)
    end.

%% What Orbit's tracepoints have on MFAs on this node: [{MFA, Meta, CallCount}] (for tests and the
%% clean-up check): in the first tracepoint session where there are sessions ({meta, false} and
%% {call_count, false} when there is none), else in the legacy session.
patterns(MFAs) ->
    Session = case orbit_trace_lib:has_sessions() of
                  true ->
                      case orbit_trace_lib:own_sessions(orbit_dbg_trace) of
                          [W | _] -> {session, W};
                          [] -> none
                      end;
                  false ->
                      legacy
              end,
    [{MFA, patterns_info(Session, MFA, meta), patterns_info(Session, MFA, call_count)} || MFA <- MFAs].

patterns_info(none, _MFA, Item) -> {Item, false};
patterns_info(Session, MFA, Item) -> catch orbit_trace_lib:info(Session, MFA, Item).

start_tracer(#{owner := Owner, events := Events}) ->
    case orbit_trace_lib:start(orbit_dbg_trace, tracer_init, [Owner, Events], 10000, tracer_died) of
        {ok, Pid} -> Pid;
        {error, _} = E -> throw_error(E)
    end.

throw_error(E) -> erlang:error(E).

stop_tracer(Pid) ->
    orbit_trace_lib:stop(orbit_dbg_trace, Pid, stop).

request(Pid, Req) ->
    orbit_trace_lib:request(orbit_dbg_trace, Pid, Req, 15000, no_tracer).

%% ---------------------------------------------------------------------------------------------------
%% The tracer

tracer_init({Caller, Ref}, Owner, Events) ->
    case catch register(orbit_dbg_tracer, self()) of
        true ->
            case orbit_trace_lib:new_session(orbit_dbg_trace) of
                {error, _} = E ->
                    unregister(orbit_dbg_tracer),
                    Caller ! {Ref, E};
                Session ->
                    tracer_start(Caller, Ref, Owner, Events, Session)
            end;
        _ ->
            Caller ! {Ref, {error, busy}}
    end.

tracer_start(Caller, Ref, Owner, Events, Session) ->
    erlang:monitor_node(Owner, true),
    Keeper = case whereis(orbit_dbg_keeper) of
                 undefined -> undefined;
                 K -> erlang:monitor(process, K)
             end,
    Caller ! {Ref, {ok, self()}},
    orbit_dbg_trace:tracer_loop(#{owner => Owner, events => Events, keeper => Keeper, session => Session,
                                  rate => 100, tps => [], mfas => #{}, code => #{},
                                  mode => on, win_start => erlang:monotonic_time(millisecond) - 1000, left => 0, extra => 0,
                                  timer => undefined, quiet => none, hits => #{}, pending => #{}, npending => 0}).

tracer_loop(S) ->
    receive
        Msg when is_tuple(Msg), element(1, Msg) =:= trace_ts; is_tuple(Msg), element(1, Msg) =:= trace ->
            orbit_dbg_trace:tracer_loop(trace_msg(Msg, S));
        {orbit_dbg_trace_window, Ref} when Ref =:= map_get(timer, S) ->
            orbit_dbg_trace:tracer_loop(window_end(S));
        {orbit_dbg_trace, From, Ref, {set, Config, Tps}} ->
            {Reply, S1} = apply_set(Config, Tps, S),
            From ! {Ref, Reply},
            orbit_dbg_trace:tracer_loop(S1);
        {orbit_dbg_trace, From, Ref, info} ->
            Info = maps:with([owner, events, rate, mode], S),
            From ! {Ref, Info#{patterns => maps:keys(map_get(mfas, S)),
                               session => orbit_trace_lib:weak(session(S))}},
            orbit_dbg_trace:tracer_loop(S);
        {orbit_dbg_trace, From, Ref, stop} ->
            untrace(S),
            From ! {Ref, ok},
            exit(normal);
        {nodedown, Node} when Node =:= map_get(owner, S) ->
            untrace(S),
            exit(normal);
        {'DOWN', Mon, process, _, _} when Mon =:= map_get(keeper, S) ->
            untrace(S),
            exit(normal);
        _ ->
            orbit_dbg_trace:tracer_loop(S)
    after 1000 ->
        orbit_dbg_trace:tracer_loop(S)
    end.

%% Removes every pattern this tracer set (with trace sessions: ends its session, which holds them all).
untrace(#{session := {session, _} = Session}) ->
    orbit_trace_lib:destroy(Session);
untrace(#{mfas := MFAs} = S) ->
    Session = session(S),
    [unpattern(Session, MFA) || MFA <- maps:keys(MFAs)],
    ok.

unpattern(Session, MFA) ->
    catch t_pattern(Session, MFA, false, meta),
    catch t_pattern(Session, MFA, false, call_count).

%% Each tracepoint checked against this node's code; then the patterns of every function brought in
%% line with the set: new ones set, changed ones reset, gone ones removed.
apply_set(Config, Tps0, S) ->
    Rate = max(1, maps:get(rate, Config, 100)),
    {Results, Tps, Code} = prepare(Tps0, map_get(code, S), [], []),
    Old = map_get(mfas, S),
    New = mfa_table(Tps, Code),
    Mode = map_get(mode, S),
    Session = session(S),
    [unpattern(Session, MFA) || MFA <- maps:keys(Old), not maps:is_key(MFA, New)],
    maps:foreach(fun(MFA, #{ms := MS}) ->
                         case {Mode, maps:find(MFA, Old)} of
                             {on, {ok, #{ms := MS}}} -> ok;
                             {on, {ok, _}} -> meta_on(Session, MFA, MS);
                             {on, error} ->
                                 catch t_pattern(Session, MFA, true, call_count),
                                 meta_on(Session, MFA, MS);
                             {counting, {ok, _}} -> ok;
                             {counting, error} -> catch t_pattern(Session, MFA, true, call_count)
                         end
                 end, New),
    Hits = maps:with([Id || #{id := Id} <- Tps], map_get(hits, S)),
    {Results, S#{tps := Tps, mfas := New, code := Code, rate := Rate, hits := Hits}}.

meta_on(Session, MFA, MS) ->
    try t_pattern(Session, MFA, MS, meta)
    catch error:badarg -> t_pattern(Session, MFA, fallback_ms(false), meta)
    end.

prepare([], Code, Results, Tps) ->
    {lists:reverse(Results), lists:reverse(Tps), Code};
prepare([#{id := Id} = Tp | Rest], Code, Results, Tps) ->
    case prepare_one(Tp, Code) of
        {ok, Tp1, Code1} -> prepare(Rest, Code1, [{Id, ok} | Results], [Tp1 | Tps]);
        {error, Why, Code1} -> prepare(Rest, Code1, [{Id, {error, Why}} | Results], Tps)
    end.

prepare_one(#{module := M, function := F, arity := A, lang := Lang} = Tp, Code0) ->
    case module_code(M, maps:get(beam, Tp, none), Code0) of
        {ok, #{md5 := MD5, functions := Funs}, Code} ->
            Want = maps:get(md5, Tp, any),
            case Want =:= any orelse Want =:= MD5 of
                false ->
                    {error, other_version, Code};
                true ->
                    case maps:find({F, A}, Funs) of
                        error ->
                            {error, no_such_function, Code};
                        {ok, Clauses} ->
                            try
                                Parts = log_parts(Lang, maps:get(log, Tp, undefined)),
                                Cond = orbit_dbg_eval:parse_opt(Lang, maps:get(condition, Tp, undefined)),
                                {ok, Tp#{parts => Parts, condition_parsed => Cond, clauses => Clauses,
                                         return => maps:get(return, Tp, false) =:= true}, Code}
                            catch
                                throw:{parse_error, Msg} -> {error, {parse, Msg}, Code}
                            end
                    end
            end;
        {error, Why, Code} ->
            {error, Why, Code}
    end.

%% The module's clauses per function and its md5, loading it first (interactive mode loads modules on
%% their first call: a tracepoint set before that call loads it here).
module_code(M, Beam, Code) ->
    _ = code:ensure_loaded(M),
    case erlang:module_loaded(M) of
        false ->
            {error, not_loaded, Code};
        true ->
            MD5 = M:module_info(md5),
            case maps:find(M, Code) of
                {ok, #{md5 := MD5} = C} ->
                    {ok, C, Code};
                _ ->
                    case abstract_code(M, Beam) of
                        {ok, Forms, _} ->
                            Funs = maps:from_list([{{F, A}, Cs} || {function, _, F, A, Cs} <- Forms]),
                            C = #{md5 => MD5, functions => Funs},
                            {ok, C, Code#{M => C}};
                        {error, Why} ->
                            {error, Why, Code}
                    end
            end
    end.

%% The module's abstract code and md5 (orbit_dbg_code:abstract_code/2), not_loaded where it has none.
abstract_code(Mod, Beam) ->
    case orbit_dbg_code:abstract_code(Mod, Beam) of
        {error, no_beam} -> {error, not_loaded};
        R -> R
    end.

%% MFA -> #{ms, tps, precise}: the match spec of each traced function, from its tracepoints.
mfa_table(Tps, _Code) ->
    ByMFA = lists:foldl(fun(#{module := M, function := F, arity := A} = Tp, Acc) ->
                                maps:update_with({M, F, A}, fun(L) -> L ++ [Tp] end, [Tp], Acc)
                        end, #{}, Tps),
    maps:map(fun(_MFA, MTps) ->
                     Returns = [K || #{clause := K, return := true} <- MTps],
                     AnyReturn = Returns =/= [],
                     case lists:member(all, [K || #{clause := K} <- MTps]) of
                         true ->
                             #{ms => fallback_ms(AnyReturn), tps => MTps, precise => false, returns => Returns};
                         false ->
                             [#{clauses := Clauses} | _] = MTps,
                             Wanted = lists:usort([K || #{clause := K} <- MTps]),
                             case clauses_ms(Clauses, Wanted, Returns) of
                                 {ok, MS} -> #{ms => MS, tps => MTps, precise => true, returns => Returns};
                                 error -> #{ms => fallback_ms(AnyReturn), tps => MTps, precise => false,
                                            returns => Returns}
                             end
                     end
             end, ByMFA).

not_self() -> {'=/=', {self}, self()}.

fallback_ms(Return) ->
    [{'_', [not_self()], case Return of true -> [{exception_trace}]; false -> [] end}].

%% A match spec that sends a message only for the calls that take one of the Wanted clauses: the
%% clauses before the last wanted one, in order, each with its head and guards; those not wanted say
%% message(false). Built with ms_transform from the function's own clauses; `error` when one cannot be
%% written as a match spec (binary patterns, aliases in heads, guards a match spec does not have).
clauses_ms(Clauses, Wanted, Returns) ->
    Last = lists:max(Wanted),
    Numbered = lists:zip(lists:seq(1, Last), lists:sublist(Clauses, Last)),
    Funs = [begin
                L = 1,
                Body = case {lists:member(K, Wanted), lists:member(K, Returns)} of
                           {true, true} -> {call, L, {atom, L, exception_trace}, []};
                           {true, false} -> {atom, L, true};
                           {false, _} -> {call, L, {atom, L, message}, [{atom, L, false}]}
                       end,
                {clause, L, [list_pattern(Ps)], Gs, [Body]}
            end || {K, {clause, _, Ps, Gs, _}} <- Numbered],
    try ms_transform:transform_from_shell(dbg, Funs, []) of
        MS when is_list(MS) ->
            Guarded = [{H, [not_self() | G], B} || {H, G, B} <- MS],
            case catch erlang:match_spec_test([], Guarded, trace) of
                {ok, _, _, _} -> {ok, Guarded};
                _ -> error
            end;
        _ -> error
    catch
        _:_ -> error
    end.

list_pattern([]) -> {nil, 1};
list_pattern([P | Ps]) -> {cons, 1, P, list_pattern(Ps)}.

%% ---------------------------------------------------------------------------------------------------
%% Trace messages

trace_msg(Msg, S) ->
    case Msg of
        {_, Pid, call, {M, F, Args}, Ts} -> call(Pid, {M, F, length(Args)}, Args, Ts, S);
        {_, Pid, call, {M, F, Args}} -> call(Pid, {M, F, length(Args)}, Args, none, S);
        {_, Pid, return_from, MFA, Value, _Ts} -> returned(Pid, MFA, {value, Value}, S);
        {_, Pid, return_from, MFA, Value} -> returned(Pid, MFA, {value, Value}, S);
        {_, Pid, exception_from, MFA, CR, _Ts} -> returned(Pid, MFA, {raised, CR}, S);
        {_, Pid, exception_from, MFA, CR} -> returned(Pid, MFA, {raised, CR}, S);
        _ -> S
    end.

call(Pid, MFA, Args, Ts, #{mfas := MFAs} = S) ->
    case maps:find(MFA, MFAs) of
        error ->
            S;
        {ok, Entry} ->
            #{tps := [#{clauses := Clauses} | _]} = Entry,
            %% Matching the clause is the tracer's costly part: only for calls it shows (or whose
            %% return it must pair).
            Match = fun() -> match(Clauses, Args, 1) end,
            case counted(Ts, S) of
                true ->
                    push_pending(Pid, MFA, armed(Match, Entry), skip, S);
                false ->
                    case budget(S) of
                        {ok, S1} ->
                            Matched = Match(),
                            fire(Pid, MFA, Args, Matched, Entry, armed(fun() -> Matched end, Entry), S1);
                        {over, S1} ->
                            push_pending(Pid, MFA, armed(Match, Entry), skip, S1#{extra := map_get(extra, S1) + 1})
                    end
            end
    end.

%% Was this call counted by call_count (stamped while it counted)? Then it is one of the dropped.
counted(Ts, #{quiet := {From, To}}) when is_tuple(Ts) -> Ts > From andalso Ts < To;
counted(_Ts, _S) -> false.

%% Did this call arm a return trace (so a return message will follow)?
armed(_Match, #{returns := []}) ->
    false;
armed(Match, #{precise := true, returns := Returns}) ->
    case Match() of {K, _} -> lists:member(K, Returns); nomatch -> false end;
armed(_Match, #{returns := _}) ->
    true.

%% {K, Bindings}: the first clause the arguments take, with what its head bound; or nomatch.
match([], _Args, _K) ->
    nomatch;
match([C | Cs], Args, K) ->
    case catch erl_eval:match_clause([C], Args, erl_eval:new_bindings(), none) of
        {_Body, Bs} -> {K, Bs};
        _ -> match(Cs, Args, K + 1)
    end.

%% One call within the budget: each tracepoint whose clause was taken (and whose condition and hit
%% count hold) prints now, or when the call returns.
fire(Pid, MFA, Args, Matched, #{tps := Tps}, Armed, S) ->
    {Bs, K} = case Matched of
                  {K0, Bs0} -> {Bs0, K0};
                  nomatch -> {[], 0}
              end,
    {Now, Later, S1} = lists:foldl(
                         fun(#{clause := C} = Tp, {N, L, Acc}) when C =:= all; C =:= K ->
                                 case holds(Tp, Bs, Acc) of
                                     {true, Acc1} ->
                                         case maps:get(return, Tp) of
                                             true -> {N, [Tp | L], Acc1};
                                             false -> {[Tp | N], L, Acc1}
                                         end;
                                     {false, Acc1} -> {N, L, Acc1}
                                 end;
                            (_, A) -> A
                         end, {[], [], S}, Tps),
    _ = Args,
    [say(Tp, Pid, Bs, none, S1) || Tp <- lists:reverse(Now)],
    case Armed of
        true -> push_pending(Pid, MFA, true, {lists:reverse(Later), Bs}, S1);
        false -> S1
    end.

holds(#{condition_parsed := Cond, lang := Lang, id := Id} = Tp, Bs, S) ->
    Pass = case Cond of
               undefined -> true;
               Parsed ->
                   case eval(Lang, Parsed, Bs, none) of
                       {error, Msg} ->
                           note(S, Id, <<"tracepoint condition `", (maps:get(condition, Tp))/binary,
                                         "` failed: ", Msg/binary>>),
                           false;
                       Result -> orbit_dbg_eval:truthy(Result)
                   end
           end,
    case Pass of
        false -> {false, S};
        true ->
            Hits = map_get(hits, S),
            N = maps:get(Id, Hits, 0) + 1,
            {orbit_dbg_eval:hit_reached(N, maps:get(hit, Tp, none)), S#{hits := Hits#{Id => N}}}
    end.

push_pending(_Pid, _MFA, false, _Entry, S) ->
    S;
push_pending(Pid, MFA, true, Entry, #{pending := P, npending := N} = S) ->
    case N >= 10000 of
        true ->
            %% Returns that never came (processes killed mid-call): start over.
            S#{pending := #{{Pid, MFA} => [Entry]}, npending := 1};
        false ->
            Stack = maps:get({Pid, MFA}, P, []),
            S#{pending := P#{{Pid, MFA} => [Entry | lists:sublist(Stack, 999)]}, npending := N + 1}
    end.

returned(Pid, MFA, Result, #{pending := P, npending := N} = S) ->
    case maps:find({Pid, MFA}, P) of
        {ok, [Entry | Rest]} ->
            P1 = case Rest of [] -> maps:remove({Pid, MFA}, P); _ -> P#{{Pid, MFA} := Rest} end,
            S1 = S#{pending := P1, npending := max(0, N - 1)},
            case Entry of
                skip -> S1;
                {Tps, Bs} -> [say(Tp, Pid, Bs, Result, S1) || Tp <- Tps], S1
            end;
        _ ->
            S
    end.

%% ---------------------------------------------------------------------------------------------------
%% The rate limit

%% {ok, S} while the second has lines left, else {over, S}. The messages stop as soon as what is
%% already queued would use up what is left: a caller in a tight loop outruns the tracer, and every
%% message it sends past the budget would only be counted.
budget(#{mode := counting, left := Left} = S) when Left > 0 ->
    {ok, S#{left := Left - 1}};
budget(#{mode := counting} = S) ->
    {over, S};
budget(#{win_start := Start, left := Left0, rate := Rate} = S) ->
    Now = erlang:monotonic_time(millisecond),
    {Start1, Left1} = case Now - Start >= 1000 of
                          true -> {Now, Rate};
                          false -> {Start, Left0}
                      end,
    {message_queue_len, Queued} = erlang:process_info(self(), message_queue_len),
    S1 = S#{win_start := Start1, left := Left1 - 1},
    if
        Left1 =< 0 -> {over, over_budget(S1#{left := 0})};
        Left1 - 1 =< Queued -> {ok, over_budget(S1)};
        true -> {ok, S1}
    end.

%% The second's budget is used: stop the messages and count the calls until the second ends.
over_budget(#{mfas := MFAs, win_start := Start} = S) ->
    Session = session(S),
    %% The calls counted up to From sent their message (stamped before From); those after it are
    %% counted as dropped, whether or not the meta pattern was already off.
    From = erlang:now(),
    Base = maps:from_list([{MFA, call_count(Session, MFA)} || MFA <- maps:keys(MFAs)]),
    [catch t_pattern(Session, MFA, false, meta) || MFA <- maps:keys(MFAs)],
    Ref = make_ref(),
    Wait = max(0, Start + 1000 - erlang:monotonic_time(millisecond)),
    erlang:send_after(Wait, self(), {orbit_dbg_trace_window, Ref}),
    %% Until the second ends, calls stamped after From are call_count's (no end yet: a stamp has
    %% three elements and sorts below any tuple of four).
    S#{mode := counting, timer := Ref, extra := 0, base => Base, quiet := {From, {later, later, later, later}}}.

%% The second is over: say how many calls were not shown, and send messages again.
window_end(#{mfas := MFAs, extra := Extra, quiet := {From, _}} = S) ->
    Session = session(S),
    [meta_on(Session, MFA, MS) || {MFA, #{ms := MS}} <- maps:to_list(MFAs)],
    %% The calls counted up to To are the dropped ones; those after it send messages again.
    To = erlang:now(),
    Base = maps:get(base, S, #{}),
    Counts = [{MFA, max(0, call_count(Session, MFA) - maps:get(MFA, Base, 0))} || MFA <- maps:keys(MFAs)],
    Total = lists:sum([C || {_, C} <- Counts]) + Extra,
    case Total > 0 of
        true ->
            Per = case [C || {_, C} <- Counts, C > 0] of
                      [_, _ | _] ->
                          [<<" (">>, lists:join(<<", ">>, [[mfa_text(MFA), <<" ">>, integer_to_binary(C)]
                                                          || {MFA, C} <- Counts, C > 0]), <<")">>];
                      _ ->
                          [<<" (">>, lists:join(<<", ">>, [mfa_text(MFA) || {MFA, _} <- Counts]), <<")">>]
                  end,
            note(S, 0, iolist_to_binary([<<"tracepoints: ">>, integer_to_binary(Total),
                                         <<" calls dropped in the last second">>, Per,
                                         <<"; the rate limit is ">>, integer_to_binary(map_get(rate, S)),
                                         <<" lines per second per node">>]));
        false ->
            ok
    end,
    S#{mode := on, timer := undefined, extra := 0, quiet := {From, To}, win_start := erlang:monotonic_time(millisecond),
       left := map_get(rate, S)}.

call_count(Session, MFA) ->
    case catch orbit_trace_lib:info(Session, MFA, call_count) of
        {call_count, N} when is_integer(N) -> N;
        _ -> 0
    end.

%% ---------------------------------------------------------------------------------------------------
%% Where the patterns live
%%
%% Where the node has trace sessions (OTP 27+, the trace module), the tracer's meta and call_count
%% patterns are set in a session of its own, named orbit_dbg_trace, whose tracer is the tracer process
%% (a session's meta patterns send to its tracer): a user's dbg or recon_trace in the node's legacy
%% session and the tracepoints then never see or remove each other's patterns (orbit_trace_lib, shared
%% with orbit_trace and the profiler, makes, finds and ends the sessions). On OTP 25/26 the patterns go
%% to the legacy session with erlang:trace_pattern/3.

%% A tracer's session (a tracer started by an older version of this module has none: legacy).
session(S) -> maps:get(session, S, legacy).

%% Kind: meta (the caller, the tracer, receives the messages) or call_count; MS false removes it.
t_pattern(legacy, MFA, false, Kind) -> erlang:trace_pattern(MFA, false, [Kind]);
t_pattern(legacy, MFA, MS, meta) -> erlang:trace_pattern(MFA, MS, [{meta, self()}]);
t_pattern(legacy, MFA, MS, Kind) -> erlang:trace_pattern(MFA, MS, [Kind]);
t_pattern({session, S}, MFA, MS, Kind) -> trace:function(S, MFA, MS, [Kind]).

mfa_text({M, F, A}) ->
    Fun = atom_to_binary(F, utf8),
    Arity = integer_to_binary(A),
    case atom_to_binary(M, utf8) of
        <<"Elixir.", Alias/binary>> -> <<Alias/binary, ".", Fun/binary, "/", Arity/binary>>;
        Mod -> <<Mod/binary, ":", Fun/binary, "/", Arity/binary>>
    end.

%% ---------------------------------------------------------------------------------------------------
%% Lines

say(#{id := Id, parts := Parts, lang := Lang}, Pid, Bs, Result, S) ->
    Text = iolist_to_binary([part(P, Lang, Bs, Result) || P <- Parts]),
    orbit_trace_lib:send(map_get(events, S), {orbit_dbg_log, Id, node(), Pid, Text}).

note(S, Id, Text) ->
    orbit_trace_lib:send(map_get(events, S), {orbit_dbg_trace_note, Id, node(), Text}).

part(B, _Lang, _Bs, _Result) when is_binary(B) -> B;
part({expr, Parsed}, Lang, Bs, Result) ->
    case {bare_var(Parsed), Result} of
        {{ok, return}, {raised, {Class, Reason}}} ->
            orbit_dbg_eval:raised(Lang, Class, Reason);
        _ ->
            orbit_dbg_eval:log_value(Lang, eval(Lang, Parsed, Bs, Result), inspect_naming_nodes)
    end.

bare_var({elixir, {Name, Meta, Ctx}}) when is_atom(Name), is_list(Meta), is_atom(Ctx) -> {ok, Name};
bare_var({erlang, [{var, _, Name}]}) -> {ok, Name};
bare_var(_) -> none.

%% Evaluates a parsed expression with a clause's bindings (and `return`); {ok, Value} | {error, Msg}.
eval(Lang, Parsed, Bs, Result) ->
    Named = named(Lang, Bs) ++ case Result of
                                   {value, V} -> [{return_name(Lang), V}];
                                   _ -> []
                               end,
    case bare_var(Parsed) of
        {ok, Name} ->
            case lists:keyfind(Name, 1, Named) of
                {_, V1} -> {ok, V1};
                false -> orbit_dbg_eval:eval_named(Parsed, Named)
            end;
        none ->
            orbit_dbg_eval:eval_named(Parsed, Named)
    end.

return_name(elixir) -> return;
return_name(erlang) -> 'Return'.

%% A clause's bindings as the message names them (Elixir: the highest version of each name).
named(elixir, Bs) -> orbit_dbg_eval:elixir_binding(erl_eval:bindings(Bs));
named(erlang, Bs) -> erl_eval:bindings(Bs).
