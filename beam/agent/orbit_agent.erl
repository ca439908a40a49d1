%% Orbit's agent on a node: one session process per connected Orbit.
%%
%% A session watches its Orbit node with monitor_node/2. When that node goes away without a word, or
%% Orbit ends the session, the session runs every clean-up registered with it (newest first), each
%% bounded in time, so that nothing Orbit changed on the node outlives Orbit. The session also forwards
%% net_kernel:monitor_nodes/2 events so that Orbit learns of nodes joining and leaving without polling.
%%
%% It is also the installer's helper for the other agent modules: info/1 tells Orbit, in one round trip,
%% the node's OTP release and which version of each module it runs; compile/1 compiles source text on
%% the node (for the first node of each OTP release only; Orbit loads the resulting binary on the others);
%% load/1 loads binaries Orbit sends. Nothing is written to the node's disk.
%%
%% Orbit installs this from source text (no preprocessor on that path: no macros, no includes).
%% Sessions loop through fully qualified calls, and wake at least once a second, so that a newer agent
%% takes over running sessions soon after it is loaded.
-module(orbit_agent).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([start_session/2, stop_session/1, register_cleanup/3, unregister_cleanup/2,
         cleanups/1, ping/1, session_init/2, session_loop/1,
         info/1, compile/1, load/1]).

%% The node's OTP release and, for each module named, the `orbit_source_hash` of the version it runs:
%% a binary, `undefined` when the module is not loaded, `none` when it carries no hash.
info(Modules) when is_list(Modules) ->
    #{otp_release => list_to_binary(erlang:system_info(otp_release)),
      erts_version => list_to_binary(erlang:system_info(version)),
      modules => [{M, loaded_hash(M)} || M <- Modules]}.

loaded_hash(M) ->
    case code:is_loaded(M) of
        false ->
            undefined;
        _ ->
            Attrs = try erlang:get_module_info(M, attributes) catch error:badarg -> [] end,
            case lists:keyfind(orbit_source_hash, 1, Attrs) of
                {orbit_source_hash, Hash} when is_list(Hash) -> list_to_binary(Hash);
                _ -> none
            end
    end.

%% Compiles Erlang source text (a binary): {ok, Module, Beam} or {error, {scan | parse | compile, Detail}}.
%% Each form is parsed on its own (split after each dot), as no preprocessor runs on this path.
compile(Source) when is_binary(Source) ->
    case erl_scan:string(unicode:characters_to_list(Source)) of
        {ok, Tokens, _} ->
            case parse_forms(Tokens, [], []) of
                {ok, Forms} ->
                    case compile:forms(Forms, [binary, return_errors]) of
                        {ok, Module, Beam} -> {ok, Module, Beam};
                        {error, Errors, _Warnings} -> {error, {compile, Errors}};
                        Other -> {error, {compile, Other}}
                    end;
                {error, Detail} ->
                    {error, {parse, Detail}}
            end;
        {error, Detail, Where} ->
            {error, {scan, {Detail, Where}}}
    end.

parse_forms([], [], Forms) ->
    {ok, lists:reverse(Forms)};
parse_forms([], _Partial, _Forms) ->
    {error, missing_final_dot};
parse_forms([{dot, _} = Dot | Rest], Current, Forms) ->
    case erl_parse:parse_form(lists:reverse([Dot | Current])) of
        {ok, Form} -> parse_forms(Rest, [], [Form | Forms]);
        {error, Detail} -> {error, Detail}
    end;
parse_forms([Token | Rest], Current, Forms) ->
    parse_forms(Rest, [Token | Current], Forms).

%% Loads [{Module, Beam}] in order: [{Module, ok | {error, Why}}]. An older version still in use is
%% given a moment to be left (sessions move to new code within a second), then purged.
load(Binaries) when is_list(Binaries) ->
    Stuck = [M || {M, _} <- Binaries, not code:soft_purge(M)],
    case Stuck of
        [] -> ok;
        _ ->
            timer:sleep(1500),
            lists:foreach(fun code:purge/1, Stuck)
    end,
    [{M, load_binary(M, Beam)} || {M, Beam} <- Binaries].

load_binary(M, Beam) ->
    case code:load_binary(M, atom_to_list(M) ++ ".erl", Beam) of
        {module, M} -> ok;
        {error, Why} -> {error, Why}
    end.

%% Starts a session for the Orbit node OrbitNode; membership events go to EventPid.
start_session(OrbitNode, EventPid) when is_atom(OrbitNode), is_pid(EventPid) ->
    Pid = proc_lib:spawn(orbit_agent, session_init, [OrbitNode, EventPid]),
    {ok, Pid}.

%% Runs the session's clean-ups and ends it.
stop_session(Session) ->
    call(Session, stop, 60000).

%% Registers {M, F, A} to run when the session ends; a second registration under Key replaces the first.
register_cleanup(Session, Key, {M, F, A}) when is_atom(M), is_atom(F), is_list(A) ->
    call(Session, {register, Key, {M, F, A}}, 5000).

unregister_cleanup(Session, Key) ->
    call(Session, {unregister, Key}, 5000).

%% The keys of the registered clean-ups, newest first.
cleanups(Session) ->
    call(Session, cleanups, 5000).

ping(Session) ->
    call(Session, ping, 5000).

call(Session, Request, Timeout) ->
    Ref = erlang:monitor(process, Session),
    Session ! {orbit_call, self(), Ref, Request},
    receive
        {Ref, Reply} ->
            erlang:demonitor(Ref, [flush]),
            Reply;
        {'DOWN', Ref, process, _, Reason} ->
            {error, {no_session, Reason}}
    after Timeout ->
        erlang:demonitor(Ref, [flush]),
        {error, timeout}
    end.

session_init(OrbitNode, EventPid) ->
    erlang:monitor_node(OrbitNode, true),
    ok = net_kernel:monitor_nodes(true, [nodedown_reason]),
    orbit_agent:session_loop(#{orbit => OrbitNode, events => EventPid, cleanups => []}).

session_loop(#{orbit := OrbitNode, events := EventPid, cleanups := Cleanups} = State) ->
    receive
        {nodedown, OrbitNode} ->
            run_cleanups(Cleanups),
            exit(normal);
        {nodeup, Node, _Info} ->
            EventPid ! {orbit_membership, node(), nodeup, Node, undefined},
            orbit_agent:session_loop(State);
        {nodedown, Node, Info} ->
            Reason = proplists:get_value(nodedown_reason, Info, undefined),
            EventPid ! {orbit_membership, node(), nodedown, Node, Reason},
            orbit_agent:session_loop(State);
        {orbit_call, From, Ref, stop} ->
            run_cleanups(Cleanups),
            From ! {Ref, ok},
            exit(normal);
        {orbit_call, From, Ref, {register, Key, MFA}} ->
            From ! {Ref, ok},
            Rest = lists:keydelete(Key, 1, Cleanups),
            orbit_agent:session_loop(State#{cleanups := [{Key, MFA} | Rest]});
        {orbit_call, From, Ref, {unregister, Key}} ->
            From ! {Ref, ok},
            orbit_agent:session_loop(State#{cleanups := lists:keydelete(Key, 1, Cleanups)});
        {orbit_call, From, Ref, cleanups} ->
            From ! {Ref, [K || {K, _} <- Cleanups]},
            orbit_agent:session_loop(State);
        {orbit_call, From, Ref, ping} ->
            From ! {Ref, pong},
            orbit_agent:session_loop(State);
        _Other ->
            orbit_agent:session_loop(State)
    after 1000 ->
        orbit_agent:session_loop(State)
    end.

%% Each clean-up runs in its own process, bounded to 10 s, so one that fails or hangs cannot stop the rest.
run_cleanups(Cleanups) ->
    lists:foreach(fun({Key, {M, F, A}}) -> run_cleanup(Key, M, F, A) end, Cleanups).

run_cleanup(Key, M, F, A) ->
    {Pid, Ref} = spawn_monitor(fun() -> apply(M, F, A) end),
    receive
        {'DOWN', Ref, process, Pid, normal} ->
            ok;
        {'DOWN', Ref, process, Pid, Reason} ->
            error_logger:warning_msg("orbit_agent: clean-up ~p failed: ~p~n", [Key, Reason])
    after 10000 ->
        exit(Pid, kill),
        error_logger:warning_msg("orbit_agent: clean-up ~p timed out~n", [Key])
    end.
