%% Orbit's debugger helpers on a node, around OTP's interpreter (int / dbg_iserver / dbg_ieval): the façade
%% every caller names (Orbit, orbit_dbg_cond, orbit_dbg_trace), and what is not a part of its own, split
%% the way OTP splits its interpreter (int over dbg_iserver, dbg_icmd, dbg_ieval…):
%%
%% - here: the interpreter server (made loadable where Elixir 1.15+ pruned the code path), interpretation
%%   node by node (int:ni reaches only visible nodes, and never nodes that join later), processes (scope,
%%   pause, suspension), crash reports, and clean-up — the one contract: breakpoints removed, paused
%%   processes resumed, modules native again, the code path as it was;
%% - orbit_dbg_code: which modules come from which files, and where the interpreter can stop;
%% - orbit_dbg_keeper: the keeper process per node and session (condition table, suspensions, watchers);
%% - orbit_dbg_eval: conditions, hit counts, log messages, evaluation in a frame and how values and errors
%%   are shown: how a breakpoint condition is evaluated (the tracepoints, orbit_dbg_trace, use it too);
%% - orbit_dbg_pass: which checks of a breakpoint make one pass over its line;
%% - orbit_dbg_frames: a paused process's stack, and who waits for its answer;
%% - orbit_dbg_step: stepping into the process a call goes to;
%% - orbit_dbg_pure: whether an expression only reads (read-only mode).
%%
%% Everything runs on the node whose processes it concerns, so that bindings, messages and stacks are
%% read and summarised where they live and only what the editor shows crosses the network.
-module(orbit_dbg).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([loadable/1, attach/3, beam_md5/1, breakpoint/3, call_target/3, caller/1, children/4,
         cleanup/2, clear_conditions/1, condition/2, crash_filter/2, current_stack/1, ensure_debugger_code/0,
         ensure_server/0, erpc_parent/1, eval/5, forget/1, hold/1, install_crash_forwarder/1,
         interpret/2, interpret_when_loadable/2, interpreted_here/1, keeper_loop/1, limits/0, load_into_server/2,
         log/2, module_lines/1, module_lines/2, parse_expr/2, pause/1, process_scope/1,
         process_scope_value/1, pure/2, remove_crash_forwarder/0, restore_code_path/0, resume/1, resume_all/0,
         scope/3, server/0, set_condition/2, set_variable/5, shrink/2, snapshot_here/0,
         source_index/1, stack/1, start_keeper/2, step/2, step_landed/2, stop_keeper/0,
         stored/1, struct_fields/1, suspend/1, take/1, undefined_function/3, undefined_lambda/3,
         uninterpret/1, waiting_callers/1, watch_loop/5]).

%% The interpreter server

%% OTP's debugger application (int, dbg_iserver, dbg_ieval…) made loadable on this node for the session
%% when the node's code path lacks it: Elixir 1.15+ prunes a `mix run`/`iex -S mix` node's path to the
%% applications its project lists, and a release has only those it includes. The application is taken
%% from the node's own Erlang installation; restore_code_path/0 (run by cleanup/2) takes the path back.
%% {error, {no_debugger, RootDir}} where the installation has none (a release with bundled ERTS).
ensure_debugger_code() ->
    case debugger_path() of
        ok -> load_interpreter();
        Error -> Error
    end.

%% The interpreter's own modules, loaded now: a `mix run` node that is still starting prunes its code path
%% a moment later, and a module interpreted meanwhile would then call an `int` that can no longer be
%% loaded (undef at its first call). Loaded modules stay whatever happens to the path.
load_interpreter() ->
    case code:which(int) of
        Path when is_list(Path) ->
            Ebin = filename:dirname(Path),
            Mods = [list_to_atom(filename:basename(F, ".beam")) || F <- filelib:wildcard("*.beam", Ebin)],
            _ = [code:ensure_loaded(M) || M <- Mods,
                                          M =:= int orelse M =:= dbg_debugged orelse lists:prefix("dbg_i", atom_to_list(M))],
            ok;
        _ -> ok
    end.

debugger_path() ->
    case code:lib_dir(debugger) of
        Dir when is_list(Dir) -> ok;
        {error, _} ->
            Found = filelib:wildcard(filename:join([code:root_dir(), "lib", "debugger-*", "ebin"])),
            case lists:sort(fun newer_or_same/2, Found) of
                [] -> {error, {no_debugger, unicode:characters_to_binary(code:root_dir())}};
                [Ebin | _] ->
                    case code:add_pathz(Ebin) of
                        true ->
                            persistent_term:put(orbit_dbg_added_path, Ebin),
                            ok;
                        Error -> {error, {no_debugger, Error}}
                    end
            end
    end.

%% debugger-5.10 before debugger-5.9.
newer_or_same(A, B) -> version_of(A) >= version_of(B).

version_of(Ebin) ->
    "debugger-" ++ V = filename:basename(filename:dirname(Ebin)),
    [case string:to_integer(P) of {N, _} when is_integer(N) -> N; _ -> 0 end || P <- string:split(V, ".", all)].

%% Undoes ensure_debugger_code/0. Modules already loaded stay loaded (a meta process finishing its call
%% still runs them); only the path the node had is restored.
restore_code_path() ->
    case persistent_term:get(orbit_dbg_added_path, undefined) of
        undefined -> ok;
        Ebin ->
            _ = code:del_path(Ebin),
            persistent_term:erase(orbit_dbg_added_path),
            ok
    end.

%% The cluster's dbg_iserver (a global name); started on this node when there is none.
ensure_server() ->
    case ensure_debugger_code() of
        ok -> ensure_server_here();
        Error -> Error
    end.

ensure_server_here() ->
    case global:whereis_name(dbg_iserver) of
        Pid when is_pid(Pid) -> {ok, Pid};
        undefined ->
            case whereis(dbg_iserver) of
                Pid when is_pid(Pid) ->
                    %% A local server that lost its global name (e.g. after a partition healed).
                    global:re_register_name(dbg_iserver, Pid),
                    {ok, Pid};
                undefined ->
                    case dbg_iserver:start() of
                        {ok, Pid} ->
                            %% Noted so that the clean-up stops it again (stop_own_server/1).
                            persistent_term:put(orbit_dbg_started_server, Pid),
                            {ok, Pid};
                        {error, {already_started, Pid}} -> {ok, Pid};
                        Other -> {error, Other}
                    end
            end
    end.

%% Attaches AttPid (one of Orbit's pids) to Pid. The server crashes on an attach to a process it does not
%% know (e.g. one cleared with int:clear/0 meanwhile), taking every debugging session with it, so check.
attach(Server, AttPid, Pid) ->
    case lists:keymember(Pid, 1, gen_server:call(Server, snapshot, 5000)) of
        true -> gen_server:call(Server, {attached, AttPid, Pid}, 5000);
        false -> {error, not_interpreted}
    end.

server() ->
    case global:whereis_name(dbg_iserver) of
        Pid when is_pid(Pid) -> Pid;
        undefined -> undefined
    end.

%% ---------------------------------------------------------------------------------------------
%% Interpretation

%% Puts Mod's code into the interpreter server (once for the cluster), from this node's object code.
load_into_server(Server, Mod) ->
    case orbit_dbg_code:abstract_code(Mod) of
        {ok, _Forms, Bin} ->
            {ok, {Mod, [{abstract_code, Abst}, {exports, Exp}]}} = beam_lib:chunks(Bin, [abstract_code, exports]),
            Src = case orbit_dbg_code:module_source(Mod) of undefined -> <<>>; S -> S end,
            SrcBin = case file:read_file(Src) of {ok, B} -> B; _ -> <<>> end,
            MD5 = code:module_md5(Bin),
            Term = term_to_binary({interpreter_module, Exp, Abst, SrcBin, MD5}),
            case gen_server:call(Server, {load, Mod, binary_to_list(Src), Term}, 60000) of
                {module, Mod} -> {ok, MD5};
                Other -> {error, Other}
            end;
        E -> E
    end.

%% Makes calls into Mod on this node go through the interpreter. Only when the code loaded here is the
%% code the server interprets (same md5): a node running another version is left alone and reported.
%% Every call into interpreted code looks the interpreter server up by its global name: on a node that
%% does not see it yet (one that joined a moment ago), such a call would crash, so wait for it first.
interpret(Mod, WantMD5) ->
    _ = code:ensure_loaded(Mod),
    case {orbit_dbg_code:beam_md5(Mod), ensure_debugger_code()} of
        {_, {error, {no_debugger, _}} = NoDebugger} -> NoDebugger;
        {undefined, _} -> {error, not_loaded};
        {WantMD5, ok} ->
            case wait_server(100) of
                true ->
                    _ = erts_debug:breakpoint({Mod, '_', '_'}, true),
                    ok;
                false -> {error, no_server}
            end;
        {Other, ok} -> {error, {other_version, Other}}
    end.

%% Interprets Mod here as soon as it can be loaded: a node that joined while it was starting gets its
%% application's code path a moment after its distribution, and its application may call Mod at once.
%% A watcher owned by the keeper tries every 10 ms (up to 2 minutes) and tells the session's event
%% process {orbit_dbg_interpreted, Node, Mod, Result}; the clean-up stops the watchers first.
interpret_when_loadable(Mod, WantMD5) ->
    orbit_dbg_keeper:keeper_call({watch, Mod, WantMD5}).

watch_loop(Mod, WantMD5, Events, Keeper, N) ->
    case is_process_alive(Keeper) of
        false -> ok;
        true ->
            case code:ensure_loaded(Mod) of
                {module, Mod} -> Events ! {orbit_dbg_interpreted, node(), Mod, interpret(Mod, WantMD5)};
                _ when N =< 0 -> Events ! {orbit_dbg_interpreted, node(), Mod, {error, not_loaded}};
                _ -> timer:sleep(10), orbit_dbg:watch_loop(Mod, WantMD5, Events, Keeper, N - 1)
            end
    end.

wait_server(0) -> false;
wait_server(N) ->
    case server() of
        undefined -> timer:sleep(50), wait_server(N - 1);
        _ -> true
    end.

%% Back to native code on this node. The module stays loaded as it was; nothing is purged, so no
%% process running it is killed.
uninterpret(Mods) ->
    [erts_debug:breakpoint({M, '_', '_'}, false) || M <- Mods],
    ok.

%% Of Mods, those whose calls go through the interpreter on this node.
interpreted_here(Mods) ->
    [M || M <- Mods, code:is_loaded(M) =/= false, is_interpreted_here(M)].

%% The debug breakpoints that make calls go through the interpreter do not show in erlang:trace_info/2:
%% call the module from a probe process whose error handler is this module, so that such a breakpoint
%% answers here (breakpoint/3) instead of entering the interpreter.
is_interpreted_here(M) ->
    {Pid, Ref} = spawn_monitor(fun() ->
                                       process_flag(error_handler, orbit_dbg),
                                       exit({orbit_probe, M:module_info(module)})
                               end),
    receive
        {'DOWN', Ref, process, Pid, Reason} -> Reason =:= {orbit_probe, '$orbit_interpreted'}
    after 5000 ->
        exit(Pid, kill),
        false
    end.

%% Error handler of the probe above; the rest is what the default error handler does.
breakpoint(_Module, _Function, _Args) -> '$orbit_interpreted'.
undefined_function(M, F, A) -> error_handler:undefined_function(M, F, A).
undefined_lambda(M, F, A) -> error_handler:undefined_lambda(M, F, A).

%% ---------------------------------------------------------------------------------------------
%% Processes: scope, pause, suspension

process_scope(Pid) ->
    case is_process_alive(Pid) of
        true -> {ok, orbit_dbg_step:shrink(process_scope_value(Pid), orbit_dbg_step:limits())};
        false -> {error, no_such_process}
    end.

process_scope_value(Pid) ->
    Info = case erlang:process_info(Pid, [registered_name, status, message_queue_len, messages, links, monitors,
                                         memory, current_function, initial_call, dictionary, reductions]) of
               undefined -> [];
               L -> L
           end,
    Dict = proplists:get_value(dictionary, Info, []),
    Initial = case proplists:get_value('$initial_call', Dict) of
                  undefined -> proplists:get_value(initial_call, Info);
                  IC -> IC
              end,
    #{node => node(),
      registered_name => case proplists:get_value(registered_name, Info) of [] -> nil; N -> N end,
      status => proplists:get_value(status, Info),
      message_queue_len => proplists:get_value(message_queue_len, Info),
      messages => proplists:get_value(messages, Info, []),
      links => proplists:get_value(links, Info, []),
      monitors => proplists:get_value(monitors, Info, []),
      memory => proplists:get_value(memory, Info),
      reductions => proplists:get_value(reductions, Info),
      current_function => proplists:get_value(current_function, Info),
      initial_call => Initial,
      ancestors => proplists:get_value('$ancestors', Dict, [])}.

%% Pauses an interpreted process at its next expression. Never sent to one at a break: there the
%% interpreter takes `stop` as a bad command and the process crashes.
pause(Pid) ->
    case catch snapshot_status(Pid) of
        break -> {error, already_stopped};
        exit -> {error, exited};
        undefined -> {error, not_interpreted};
        _ ->
            case gen_server:call(server(), {get_meta, Pid}, 5000) of
                {ok, Meta} -> Meta ! {user, {cmd, stop}}, ok;
                Other -> {error, Other}
            end
    end.

snapshot_status(Pid) ->
    case server() of
        undefined -> undefined;
        S ->
            case lists:keyfind(Pid, 1, gen_server:call(S, snapshot, 5000)) of
                {Pid, _, Status, _} -> Status;
                false -> undefined
            end
    end.

suspend(Pid) -> orbit_dbg_keeper:keeper_call({suspend, Pid}).
resume(Pid) -> orbit_dbg_keeper:keeper_call({resume, Pid}).
resume_all() -> orbit_dbg_keeper:keeper_call(resume_all).

current_stack(Pid) ->
    case erlang:process_info(Pid, current_stacktrace) of
        {current_stacktrace, St} ->
            {ok, [{M, F, orbit_dbg_step:arity(A), proplists:get_value(file, Loc), proplists:get_value(line, Loc)} || {M, F, A, Loc} <- St]};
        undefined -> {error, no_such_process}
    end.

%% ---------------------------------------------------------------------------------------------
%% Crash reports from any process on this node, forwarded to Orbit

%% A primary filter, first of all: Elixir 1.15+ installs a primary filter of its own (its translator) that
%% stops OTP's crash reports (domain [otp, sasl]) before any handler sees them unless `handle_sasl_reports`
%% is on. Orbit's filter only looks: it always answers `ignore`, so the node logs exactly as before.
install_crash_forwarder(Dest) ->
    _ = logger:remove_handler(orbit_crash_forwarder),
    Filters = maps:get(filters, logger:get_primary_config(), []),
    Mine = {orbit_crash_forwarder, {fun orbit_dbg:crash_filter/2, Dest}},
    logger:update_primary_config(#{filters => [Mine | lists:keydelete(orbit_crash_forwarder, 1, Filters)]}).

remove_crash_forwarder() ->
    _ = logger:remove_handler(orbit_crash_forwarder),
    _ = logger:remove_primary_filter(orbit_crash_forwarder),
    ok.

%% logger primary filter callback
crash_filter(#{level := Level} = Event, Dest) when Level =:= error; Level =:= critical; Level =:= alert; Level =:= emergency ->
    catch log(Event, #{config => #{dest => Dest}}),
    ignore;
crash_filter(_, _) -> ignore.

%% logger handler callback
log(#{msg := Msg, meta := Meta} = Event, #{config := #{dest := Dest}}) ->
    case crash_of(Msg) of
        {true, Who, Reason, Stack} ->
            Text = try
                       iolist_to_binary(logger_formatter:format(Event, #{single_line => false, template => [msg]}))
                   catch _:_ -> <<>>
                   end,
            Dest ! {orbit_crash, node(), maps:get(pid, Meta, Who), Text, frames(Stack), orbit_dbg_step:shrink(Reason, orbit_dbg_step:limits())};
        false -> ok
    end;
log(_, _) -> ok.

crash_of({report, #{label := {proc_lib, crash}, report := [Info | _]}}) when is_list(Info) ->
    case proplists:get_value(error_info, Info) of
        {_Class, Reason, Stack} -> {true, proplists:get_value(pid, Info), Reason, Stack};
        _ -> false
    end;
crash_of({report, #{label := {gen_server, terminate}, reason := Reason} = R}) ->
    Stack = case Reason of {_, St} when is_list(St) -> St; _ -> [] end,
    {true, maps:get(name, R, undefined), Reason, Stack};
crash_of({report, #{label := {error_logger, error_report}, report := R}}) ->
    case R of
        [{pid, P} | _] -> {true, P, R, []};
        _ -> false
    end;
crash_of(_) -> false.

frames(Stack) when is_list(Stack) ->
    [{M, F, orbit_dbg_step:arity(A), to_file(proplists:get_value(file, Loc)), proplists:get_value(line, Loc)}
     || {M, F, A, Loc} <- Stack, is_list(Loc)];
frames(_) -> [].

to_file(undefined) -> undefined;
to_file(F) -> unicode:characters_to_binary(F).

%% ---------------------------------------------------------------------------------------------
%% Clean-up: the same code whether Orbit disconnects (the engine calls cleanup/2 on every node) or
%% vanishes (each node's agent runs the registered cleanup/2 when Orbit's node goes down).
%%
%% On every node:
%% 1. Orbit's breakpoints leave the interpreter (so nothing stops again);
%% 2. processes of this node paused at a break are continued, suspended ones resumed;
%% 3. the modules run native again on this node (new calls stay native; a process inside interpreted
%%    code finishes its current call interpreted), after a bounded wait for the paused ones to leave;
%% 4. the condition table, crash forwarder and keeper go.
%% On the node that runs the interpreter server, then:
%% 5. once every node runs the modules natively and no process anywhere is inside interpreted code
%%    (bounded wait; forgetting a module sooner would kill such a process, as int:nn/1 does), the
%%    server forgets the modules and the processes that exited; a server that Orbit
%%    started, and that no other debugger is subscribed to, is stopped, which also ends the meta
%%    processes that the interpreter keeps for each process it ever ran.
%% Bounded to 8 s in all, below the agent's 10 s bound for one clean-up. Returns ok | {left, Notes}.
cleanup(Mods, Breaks) ->
    %% No module may become interpreted behind the clean-up's back.
    _ = orbit_dbg_keeper:keeper_call(stop_watchers),
    Server = server(),
    case Server of
        undefined -> ok;
        _ ->
            [gen_server:cast(Server, {delete_break, B}) || B <- Breaks],
            continue_paused(Server, 20)
    end,
    catch resume_all(),
    wait_native(Server, 40),
    %% Safe even for a process still inside interpreted code: it finishes its current call interpreted.
    uninterpret(Mods),
    remove_crash_forwarder(),
    orbit_dbg_keeper:stop_keeper(),
    ServerNotes = case Server of
                      S when is_pid(S), node(S) =:= node() -> server_cleanup(S, Mods, 30);
                      _ -> []
                  end,
    restore_code_path(),
    case ServerNotes of
        [] -> ok;
        Notes -> {left, Notes}
    end.

busy({_, _, Status, _}) -> Status =:= break orelse Status =:= running orelse Status =:= waiting.

%% Step 5, waiting up to N × 100 ms for the other nodes (then finishing in the background).
server_cleanup(Server, Mods, N) -> server_cleanup(Server, Mods, N, now).

server_cleanup(Server, Mods, N, When) ->
    Snapshot = catch_list(catch gen_server:call(Server, snapshot, 5000)),
    Paused = [P || {P, _, break, _} <- Snapshot],
    [case catch gen_server:call(Server, {get_meta, P}, 5000) of
         {ok, Meta} -> Meta ! {user, {cmd, continue}};
         _ -> ok
     end || P <- Paused],
    Busy = [P || E = {P, _, _, _} <- Snapshot, busy(E)],
    Interpreted = [Node || Node <- nodes(), interpreted_on(Node, Mods)],
    case {Busy, Interpreted} of
        {[], []} ->
            [gen_server:cast(Server, {delete, M}) || M <- Mods],
            gen_server:cast(Server, clear),
            stop_own_server(Server),
            [];
        _ when N =< 0, When =:= later ->
            [busy];
        _ when N =< 0 ->
            %% Another node's clean-up is slower (all nodes run theirs at once when Orbit vanishes): a
            %% process that settles later would otherwise stay in the server's snapshot for good.
            _ = spawn(fun() -> finish_later(Server, Mods, 120) end),
            [{still_interpreted_on, Interpreted} || Interpreted =/= []] ++ [{inside_interpreted_code, Busy} || Busy =/= []];
        _ ->
            timer:sleep(100),
            server_cleanup(Server, Mods, N - 1, When)
    end.

%% Step 5 once the other nodes have settled, retried every 500 ms for up to N tries; a new session
%% (its keeper runs here again) owns the server from then on and this one gives up.
finish_later(_Server, _Mods, 0) -> ok;
finish_later(Server, Mods, N) ->
    timer:sleep(500),
    case whereis(orbit_dbg_keeper) =:= undefined andalso is_process_alive(Server) of
        false -> ok;
        true ->
            case server_cleanup(Server, Mods, 0, later) of
                [] -> ok;
                _ -> finish_later(Server, Mods, N - 1)
            end
    end.

interpreted_on(Node, Mods) ->
    try erpc:call(Node, orbit_dbg, interpreted_here, [Mods], 2000) of
        [] -> false;
        _ -> true
    catch _:_ -> false
    end.

%% Stops the server if Orbit started it (ensure_server/0 noted it) and no other debugger is subscribed.
stop_own_server(Server) ->
    case persistent_term:get(orbit_dbg_started_server, undefined) of
        Server ->
            Subscribers = try element(7, sys:get_state(Server, 5000)) catch _:_ -> [unknown] end,
            case [S || S <- Subscribers, subscriber_alive(S)] of
                [] ->
                    Ref = erlang:monitor(process, Server),
                    gen_server:cast(Server, stop),
                    receive {'DOWN', Ref, _, _, _} -> ok after 2000 -> erlang:demonitor(Ref, [flush]) end,
                    persistent_term:erase(orbit_dbg_started_server),
                    ok;
                _ -> ok
            end;
        _ -> ok
    end.

%% Subscribers are not linked to the server (Orbit links its own): dead ones stay in its list.
subscriber_alive(S) when is_pid(S), node(S) =:= node() -> is_process_alive(S);
subscriber_alive(S) when is_pid(S) -> lists:member(node(S), nodes(connected));
subscriber_alive(_) -> true.

continue_paused(_Server, 0) -> ok;
continue_paused(Server, N) ->
    Paused = [P || {P, _, break, _} <- snapshot_here()],
    [case catch gen_server:call(Server, {get_meta, P}, 5000) of
         {ok, Meta} -> Meta ! {user, {cmd, continue}};
         _ -> ok
     end || P <- Paused],
    case Paused of
        [] -> ok;
        _ -> timer:sleep(50), continue_paused(Server, N - 1)
    end.

%% Waits (up to N × 100 ms) until no process of this node is stopped or running inside interpreted code.
wait_native(undefined, _) -> ok;
wait_native(_Server, 0) -> ok;
wait_native(Server, N) ->
    Busy = [P || {P, _, S, _} <- snapshot_here(), S =:= break orelse S =:= running],
    case Busy of
        [] -> ok;
        _ -> continue_paused(Server, 1), timer:sleep(100), wait_native(Server, N - 1)
    end.

snapshot_here() ->
    case server() of
        undefined -> [];
        S -> [E || {P, _, _, _} = E <- catch_list(catch gen_server:call(S, snapshot, 5000)), node(P) =:= node()]
    end.

catch_list(L) when is_list(L) -> L;
catch_list(_) -> [].

%% ---------------------------------------------------------------------------------------------
%% The façade: what Orbit (and orbit_dbg_cond, orbit_dbg_trace) call, kept here so that callers name one
%% module whatever part owns the work.

beam_md5(A1) -> orbit_dbg_code:beam_md5(A1).
call_target(A1, A2, A3) -> orbit_dbg_step:call_target(A1, A2, A3).
caller(A1) -> orbit_dbg_frames:caller(A1).
children(A1, A2, A3, A4) -> orbit_dbg_step:children(A1, A2, A3, A4).
clear_conditions(A1) -> orbit_dbg_eval:clear_conditions(A1).
condition(A1, A2) -> orbit_dbg_eval:condition(A1, A2).
erpc_parent(A1) -> orbit_dbg_frames:erpc_parent(A1).
eval(A1, A2, A3, A4, A5) -> orbit_dbg_step:eval(A1, A2, A3, A4, A5).
forget(A1) -> orbit_dbg_pure:forget(A1).
hold(A1) -> orbit_dbg_frames:hold(A1).
keeper_loop(A1) -> orbit_dbg_keeper:keeper_loop(A1).
limits() -> orbit_dbg_step:limits().
module_lines(A1) -> orbit_dbg_code:module_lines(A1).
module_lines(A1, A2) -> orbit_dbg_code:module_lines(A1, A2).
parse_expr(A1, A2) -> orbit_dbg_eval:parse_expr(A1, A2).
pure(A1, A2) -> orbit_dbg_pure:pure(A1, A2).
scope(A1, A2, A3) -> orbit_dbg_step:scope(A1, A2, A3).
set_condition(A1, A2) -> orbit_dbg_eval:set_condition(A1, A2).
set_variable(A1, A2, A3, A4, A5) -> orbit_dbg_pure:set_variable(A1, A2, A3, A4, A5).
shrink(A1, A2) -> orbit_dbg_step:shrink(A1, A2).
source_index(A1) -> orbit_dbg_code:source_index(A1).
stack(A1) -> orbit_dbg_frames:stack(A1).
start_keeper(A1, A2) -> orbit_dbg_keeper:start_keeper(A1, A2).
step(A1, A2) -> orbit_dbg_pass:step(A1, A2).
step_landed(A1, A2) -> orbit_dbg_pass:step_landed(A1, A2).
stop_keeper() -> orbit_dbg_keeper:stop_keeper().
stored(A1) -> orbit_dbg_pure:stored(A1).
struct_fields(A1) -> orbit_dbg_pure:struct_fields(A1).
take(A1) -> orbit_dbg_pure:take(A1).
waiting_callers(A1) -> orbit_dbg_frames:waiting_callers(A1).
loadable(A1) -> orbit_dbg_code:loadable(A1).
