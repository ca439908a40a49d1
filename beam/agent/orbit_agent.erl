%% Orbit's agent on a node: one session process per connected Orbit.
%%
%% A session watches its Orbit node with monitor_node/2. When that node goes away without a word, or
%% Orbit ends the session, the session runs every clean-up registered with it (newest first), each
%% bounded in time, so that nothing Orbit changed on the node outlives Orbit. The session also forwards
%% net_kernel:monitor_nodes/2 events so that Orbit learns of nodes joining and leaving without polling.
%%
%% Orbit installs this from source text (no preprocessor on that path: no macros, no includes).
%% Sessions loop through fully qualified calls, and wake at least once a second, so that a newer agent
%% takes over running sessions soon after it is loaded.
-module(orbit_agent).

-export([start_session/2, stop_session/1, register_cleanup/3, unregister_cleanup/2,
         cleanups/1, ping/1, session_init/2, session_loop/1]).

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
