%% The keeper: one process per node and Orbit session. It owns the condition table, holds the
%% suspensions Orbit makes (undone by the runtime when it exits), watches Orbit's node, and owns the
%% watchers that interpret a module once a starting node can load it.
-module(orbit_dbg_keeper).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([keeper_call/1, keeper_loop/1, start_keeper/2, stop_keeper/0]).

%% The keeper

start_keeper(OrbitNode, EventPid) ->
    case whereis(orbit_dbg_keeper) of
        undefined -> ok;
        Old ->
            Ref = erlang:monitor(process, Old),
            exit(Old, kill),
            receive {'DOWN', Ref, _, _, _} -> ok after 5000 -> ok end
    end,
    Parent = self(),
    Pid = spawn(fun() ->
                        register(orbit_dbg_keeper, self()),
                        ets:new(orbit_dbg_conds, [named_table, public, set, {read_concurrency, true}]),
                        erlang:monitor_node(OrbitNode, true),
                        Parent ! {self(), ready},
                        orbit_dbg_keeper:keeper_loop(#{orbit => OrbitNode, events => EventPid, suspended => []})
                end),
    receive {Pid, ready} -> {ok, Pid} after 5000 -> {error, keeper_timeout} end.

stop_keeper() ->
    case whereis(orbit_dbg_keeper) of
        undefined -> ok;
        Pid -> keeper_call(Pid, stop)
    end.

keeper_call(Request) ->
    case whereis(orbit_dbg_keeper) of
        undefined -> {error, no_debug_session};
        Pid -> keeper_call(Pid, Request)
    end.

keeper_call(Pid, Request) ->
    Ref = erlang:monitor(process, Pid),
    Pid ! {orbit_dbg, self(), Ref, Request},
    receive
        {Ref, Reply} -> erlang:demonitor(Ref, [flush]), Reply;
        {'DOWN', Ref, _, _, R} -> {error, {no_keeper, R}}
    after 10000 -> erlang:demonitor(Ref, [flush]), {error, timeout}
    end.

keeper_loop(#{orbit := Orbit, suspended := Sus} = S) ->
    receive
        {nodedown, Orbit} ->
            [exit(W, kill) || W <- maps:get(watchers, S, [])],
            %% Exiting undoes every suspension this process made.
            exit(normal);
        {orbit_dbg, From, Ref, stop} ->
            [exit(W, kill) || W <- maps:get(watchers, S, [])],
            resume_list(Sus),
            From ! {Ref, ok},
            exit(normal);
        {orbit_dbg, From, Ref, {watch, Mod, WantMD5}} ->
            Keeper = self(),
            Events = maps:get(events, S),
            W = spawn(fun() -> orbit_dbg:watch_loop(Mod, WantMD5, Events, Keeper, 12000) end),
            From ! {Ref, ok},
            orbit_dbg_keeper:keeper_loop(S#{watchers => [W | maps:get(watchers, S, [])]});
        {orbit_dbg, From, Ref, stop_watchers} ->
            [exit(W, kill) || W <- maps:get(watchers, S, [])],
            From ! {Ref, ok},
            orbit_dbg_keeper:keeper_loop(S#{watchers => []});
        {orbit_dbg, From, Ref, {suspend, Pid}} ->
            case lists:member(Pid, Sus) of
                true -> From ! {Ref, ok}, orbit_dbg_keeper:keeper_loop(S);
                false ->
                    Reply = try erlang:suspend_process(Pid) of
                                true -> ok;
                                false -> {error, not_suspended}
                            catch error:badarg -> {error, no_such_process}
                            end,
                    From ! {Ref, Reply},
                    S1 = case Reply of ok -> S#{suspended := [Pid | Sus]}; _ -> S end,
                    orbit_dbg_keeper:keeper_loop(S1)
            end;
        {orbit_dbg, From, Ref, {resume, Pid}} ->
            resume_list([P || P <- Sus, P =:= Pid]),
            From ! {Ref, ok},
            orbit_dbg_keeper:keeper_loop(S#{suspended := Sus -- [Pid]});
        {orbit_dbg, From, Ref, resume_all} ->
            resume_list(Sus),
            From ! {Ref, ok},
            orbit_dbg_keeper:keeper_loop(S#{suspended := []});
        {orbit_dbg, From, Ref, suspended} ->
            From ! {Ref, Sus},
            orbit_dbg_keeper:keeper_loop(S);
        {orbit_dbg, From, Ref, events} ->
            From ! {Ref, maps:get(events, S)},
            orbit_dbg_keeper:keeper_loop(S);
        _ ->
            orbit_dbg_keeper:keeper_loop(S)
    after 1000 ->
        orbit_dbg_keeper:keeper_loop(S)
    end.

resume_list(Pids) ->
    [catch erlang:resume_process(P) || P <- Pids],
    ok.

%% ---------------------------------------------------------------------------------------------
