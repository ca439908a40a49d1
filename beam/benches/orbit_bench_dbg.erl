%% Native baselines for the debugger benchmark, run inside a node with OTP's own int.
-module(orbit_bench_dbg).

-export([start_caller/3, caller_loop/3,
         native_break_latency/3, native_pass_latency/4, native_continue_latency/4, spin/1, start_server/1, poke/1, server_loop/1,
         native_set_break/2, native_cleanup/1, erl_debugger_continue_latency/3, hot_loop/1, call_loop/4, call_loop_counted/4]).

%% A plain Erlang debugger client: subscribed to the interpreter, it attaches to a process when told
%% it broke and waits for break_at. N times: microseconds from the call's start to break_at received.
native_break_latency(Mod, Line, N) ->
    {module, Mod} = int:ni(Mod),
    ok = int:break(Mod, Line),
    Int = dbg_iserver:find(),
    gen_server:cast(Int, {subscribe, self()}),
    Times = [one(Int, Mod, Line) || _ <- lists:seq(1, N)],
    ok = int:delete_break(Mod, Line),
    Times.

one(Int, Mod, Line) ->
    T0 = erlang:monotonic_time(microsecond),
    P = spawn(Mod, fee, [100]),
    receive {int, {new_status, P, break, _}} -> ok end,
    {ok, Meta} = gen_server:call(Int, {attached, self(), P}),
    receive {Meta, {break_at, Mod, Line, _}} -> ok end,
    T1 = erlang:monotonic_time(microsecond),
    Meta ! {user, {cmd, continue}},
    Ref = erlang:monitor(process, P),
    receive {'DOWN', Ref, _, _, _} -> ok end,
    flush(),
    T1 - T0.

%% The same client, on another node than the process it debugs (as Orbit is), and one long-lived
%% process on node Where that runs Mod:fee/1 once per request, as a GenServer runs a callback for each
%% call: N passes through the breakpoint by the same process, microseconds from the request to break_at
%% received (the client stays attached, as a debugger does).
native_pass_latency(Mod, Line, N, Where) ->
    %% int:ni reaches the visible nodes only.
    true = net_kernel:connect_node(Where),
    {module, Mod} = int:ni(Mod),
    ok = int:break(Mod, Line),
    Int = dbg_iserver:find(),
    %% Interpreted code finds the server by its global name: a call before Where sees it crashes.
    wait_global(Where, Int, 100),
    gen_server:cast(Int, {subscribe, self()}),
    Srv = spawn(Where, orbit_bench_dbg, server_loop, [Mod]),
    Srv ! {go, self()},
    receive {int, {new_status, Srv, break, _}} -> ok end,
    {ok, Meta} = gen_server:call(Int, {attached, self(), Srv}),
    receive {Meta, {break_at, Mod, Line, _}} -> ok end,
    Meta ! {user, {cmd, continue}},
    receive {Srv, done} -> ok end,
    Times = [pass(Meta, Srv, Mod, Line) || _ <- lists:seq(1, N)],
    exit(Srv, kill),
    ok = int:delete_break(Mod, Line),
    flush(),
    Times.

wait_global(_Where, _Int, 0) -> error(no_global_name);
wait_global(Where, Int, N) ->
    case rpc:call(Where, global, whereis_name, [dbg_iserver]) of
        Int -> ok;
        _ -> timer:sleep(50), wait_global(Where, Int, N - 1)
    end.

pass(Meta, Srv, Mod, Line) ->
    T0 = erlang:monotonic_time(microsecond),
    Srv ! {go, self()},
    receive {Meta, {break_at, Mod, Line, _}} -> ok end,
    T1 = erlang:monotonic_time(microsecond),
    Meta ! {user, {cmd, continue}},
    receive {Srv, done} -> ok end,
    T1 - T0.

%% The like-for-like baseline of what a DAP client sees (scripts/bench, tests/dap/bench/passes.js): a
%% process on node Where that calls Mod:fee/1 in a loop, stopped at the breakpoint on every pass; the
%% client, on another node, continues it and waits for the next break_at. N times: microseconds from
%% sending continue to the next break_at received.
native_continue_latency(Mod, Line, N, Where) ->
    true = net_kernel:connect_node(Where),
    {module, Mod} = int:ni(Mod),
    ok = int:break(Mod, Line),
    Int = dbg_iserver:find(),
    wait_global(Where, Int, 100),
    gen_server:cast(Int, {subscribe, self()}),
    P = spawn(Where, orbit_bench_dbg, spin, [Mod]),
    receive {int, {new_status, P, break, _}} -> ok end,
    {ok, Meta} = gen_server:call(Int, {attached, self(), P}),
    receive {Meta, {break_at, Mod, Line, _}} -> ok end,
    Times = [continue_once(Meta, Mod, Line) || _ <- lists:seq(1, N)],
    exit(P, kill),
    ok = int:delete_break(Mod, Line),
    flush(),
    Times.

continue_once(Meta, Mod, Line) ->
    T0 = erlang:monotonic_time(microsecond),
    Meta ! {user, {cmd, continue}},
    receive {Meta, {break_at, Mod, Line, _}} -> ok end,
    erlang:monotonic_time(microsecond) - T0.

%% Calls Mod:fee/1 forever (from code that is not interpreted).
spin(Mod) ->
    _ = Mod:fee(100),
    orbit_bench_dbg:spin(Mod).

%% A long-lived process serving requests with Mod:fee/1.
start_server(Mod) ->
    spawn(orbit_bench_dbg, server_loop, [Mod]).

server_loop(Mod) ->
    receive
        {go, From} ->
            _ = Mod:fee(100),
            %% Orbit's passes send {go, none}: a one-way message, as the native client's.
            is_pid(From) andalso (From ! {self(), done}),
            orbit_bench_dbg:server_loop(Mod)
    end.

%% A long-lived process that calls M:F(Args) once per request (the caller a step into another node
%% starts from).
start_caller(M, F, Args) ->
    spawn(orbit_bench_dbg, caller_loop, [M, F, Args]).

caller_loop(M, F, Args) ->
    receive
        {go, From} ->
            _ = apply(M, F, Args),
            From ! {self(), done},
            orbit_bench_dbg:caller_loop(M, F, Args)
    end.

poke(Srv) ->
    Srv ! {go, self()},
    ok.

flush() ->
    receive _ -> flush() after 0 -> ok end.

%% int:ni + int:break reaching every visible node: microseconds.
native_set_break(Mod, Line) ->
    T0 = erlang:monotonic_time(microsecond),
    {module, Mod} = int:ni(Mod),
    ok = int:break(Mod, Line),
    erlang:monotonic_time(microsecond) - T0.

%% Undoes a native phase, the interpreter server included: the next phase, on another node, would start
%% a second server whose global name clashes with this one's.
native_cleanup(Mod) ->
    [int:delete_break(M, L) || {{M, L}, _} <- int:all_breaks()],
    int:nn(Mod),
    int:clear(),
    case whereis(dbg_iserver) of
        undefined -> ok;
        P -> gen_server:stop(P)
    end,
    ok.

%% Work in a module that is never interpreted: microseconds for N rounds.
hot_loop(N) ->
    T0 = erlang:monotonic_time(microsecond),
    loop(N, 0),
    erlang:monotonic_time(microsecond) - T0.

loop(0, Acc) -> Acc;
loop(N, Acc) -> loop(N - 1, Acc + lists:sum(lists:seq(1, 50)) + erlang:phash2(N)).

%% N calls of M:F(Arg) in a loop, each a remote call (as code calls another module, and as trace
%% patterns and the interpreter see it): microseconds.
call_loop(M, F, Arg, N) ->
    T0 = erlang:monotonic_time(microsecond),
    call_n(M, F, Arg, N),
    erlang:monotonic_time(microsecond) - T0.

%% The same loop with only a call_count trace pattern on M:F/1, OTP's cheapest trace: what a call costs
%% a tracepoint whose node is over its rate limit.
call_loop_counted(M, F, Arg, N) ->
    erlang:trace_pattern({M, F, 1}, true, [call_count]),
    T = call_loop(M, F, Arg, N),
    erlang:trace_pattern({M, F, 1}, false, [call_count]),
    T.

call_n(_M, _F, _Arg, 0) -> ok;
call_n(M, F, Arg, N) ->
    _ = M:F(Arg),
    call_n(M, F, Arg, N - 1).

%% A bare erl_debugger client on a +D node (OTP 28+), as edb is: Mod recompiled with beam_debug_info from
%% its own debug info, a breakpoint at Line, one process calling Mod:fee/1 forever; N times, microseconds
%% (floats) from resuming the paused process to the next breakpoint event. Everything is put back afterwards.
erl_debugger_continue_latency(Mod, Line, N) ->
    D = erl_debugger,
    {Mod, Orig, File} = code:get_object_code(Mod),
    {ok, {Mod, [{debug_info, {debug_info_v1, Backend, Data}}]}} = beam_lib:chunks(Orig, [debug_info]),
    {ok, Forms} = Backend:debug_info(erlang_v1, Mod, Data, []),
    {ok, Mod, Bin} = compile:forms(Forms, [beam_debug_info, binary]),
    true = code:soft_purge(Mod),
    {module, Mod} = code:load_binary(Mod, File, Bin),
    {ok, Session} = D:register(self()),
    ok = D:breakpoint(Mod, Line, true),
    P = spawn(orbit_bench_dbg, spin, [Mod]),
    Resume0 = receive {debugger_event, Session, {breakpoint, P, _, Line, R0}} -> R0 end,
    {Times, Last} = lists:mapfoldl(
                      fun(_, Resume) ->
                              T0 = erlang:monotonic_time(nanosecond),
                              Resume(),
                              receive {debugger_event, Session, {breakpoint, P, _, Line, R}} ->
                                      {(erlang:monotonic_time(nanosecond) - T0) / 1000, R}
                              end
                      end, Resume0, lists:seq(1, N)),
    ok = D:breakpoint(Mod, Line, false),
    exit(P, kill),
    catch Last(),
    D:unregister(self(), Session),
    flush(),
    timer:sleep(100),
    true = code:soft_purge(Mod),
    {module, Mod} = code:load_binary(Mod, File, Orig),
    Times.
