%% Orbit's profiler on a node: call time, calls and (where the node's OTP has it) memory per function of
%% the profiled modules, and sampled stacks of the processes on the CPU, for a bounded window.
%%
%% One process per node at a time, registered as orbit_profiler; it belongs to one Orbit node (its
%% owner). It:
%%   - sets the call_time (and call_memory, OTP 26+) trace patterns on every function of the profiled
%%     modules and the `call` process flag on every process (call_time counts only calls made by
%%     processes with that flag), never on itself. On OTP 27+ all of that lives in a trace session of its
%%     own (trace:session_create/3), which nothing else on the node sees or clobbers; on older nodes in
%%     the node's one legacy session, where it refuses to start beside another tracer or profile;
%%   - samples, every sample_ms, the next sample_max processes of a sweep over the node's processes, and
%%     takes the stacks of those running or runnable (erlang:process_info(P, current_stacktrace)), folded
%%     into counts, bounded in size;
%%   - ends the window itself at duration_ms, whatever Orbit does: reads the counters, removes every
%%     pattern and flag it set (destroys its session), and keeps the result for Orbit to collect
%%     (linger_ms at most), then exits;
%%   - ends at once, removing everything, when its owner's node goes away.
%% Orbit registers stop/2 as an agent clean-up before starting it, so a profile never outlives Orbit's
%% session. Installed from source: no macros, no includes; the loop goes through fully qualified calls.
-module(orbit_profile).

-export([check/1, start/1, collect/2, stop/2, status/0, holder_init/2, holder_loop/1]).

%% ---------------------------------------------------------------------------------------------------
%% Checks

%% What start/1 would do, without doing anything: {ok, #{targets => [{Target, Modules, Missing}],
%% modules => N, functions => N, call_memory => Bool, session => Bool}} or {error, Reason}. Missing is
%% the list of named modules not loaded here, or `unknown` for an application this node does not know.
check(#{owner := Owner} = Spec) ->
    case free_for(Owner) of
        ok -> check_node(Spec);
        Error -> Error
    end.

%% The checks of check/1 but the one on a running profiler (the profiler itself runs them at its start).
check_node(Spec) ->
            case resolve(Spec) of
                {ok, Targets, Modules} ->
                    Functions = count_functions(Modules),
                    Max = maps:get(max_functions, Spec, 20000),
                    case Functions > Max of
                        true ->
                            {error, {too_many_functions, Functions, Max}};
                        false ->
                            case legacy_clash(Modules) of
                                ok ->
                                    {ok, #{targets => Targets, modules => length(Modules),
                                           functions => Functions, call_memory => has_call_memory(),
                                           session => orbit_trace_lib:has_sessions()}};
                                Error ->
                                    Error
                            end
                    end;
                Error ->
                    Error
            end.

%% Another profile of another Orbit holds the node: refused. One of the same Orbit is replaced by start/1.
free_for(Owner) ->
    case whereis(orbit_profiler) of
        undefined ->
            ok;
        Pid ->
            case request(Pid, info, 5000) of
                #{owner := Owner} -> ok;
                #{owner := Other} -> {error, {busy, Other}};
                _ -> {error, {busy, unknown}}
            end
    end.

%% On a node without trace sessions, the trace flags and patterns are the node's one set: refuse where
%% Orbit's tracer, another tracer (dbg, recon_trace, a debugger's tracepoints) or another profile
%% (eprof, tprof, cprof) already uses them.
legacy_clash(Modules) ->
    case orbit_trace_lib:has_sessions() of
        true -> ok;
        false ->
            case whereis(orbit_tracer) of
                undefined ->
                    case foreign_tracer() of
                        none -> profiled_already(Modules);
                        Tracer -> {error, {other_tracer, Tracer}}
                    end;
                _ ->
                    {error, orbit_trace_running}
            end
    end.

foreign_tracer() ->
    Self = self(),
    Mine = whereis(orbit_profiler),
    Ok = fun(T) -> T =:= [] orelse T =:= Self orelse T =:= Mine end,
    case erlang:trace_info(new_processes, tracer) of
        {tracer, T} when T =/= [] ->
            case Ok(T) of
                true -> foreign_tracer(erlang:processes(), Ok);
                false -> T
            end;
        _ ->
            foreign_tracer(erlang:processes(), Ok)
    end.

foreign_tracer([], _Ok) ->
    none;
foreign_tracer([P | Rest], Ok) ->
    case erlang:trace_info(P, tracer) of
        {tracer, T} ->
            case Ok(T) of
                true -> foreign_tracer(Rest, Ok);
                false -> T
            end;
        _ ->
            foreign_tracer(Rest, Ok)
    end.

profiled_already([]) ->
    ok;
profiled_already([M | Rest]) ->
    Busy = [{M, F, A} || {F, A} <- functions(M), counting({M, F, A})],
    case Busy of
        [] -> profiled_already(Rest);
        [MFA | _] -> {error, {already_profiled, MFA}}
    end.

counting(MFA) ->
    lists:any(fun(Item) ->
                      case erlang:trace_info(MFA, Item) of
                          {Item, false} -> false;
                          {Item, _} -> true;
                          _ -> false
                      end
              end, [call_time, call_count]).

%% OTP 26+: call_memory trace patterns.
has_call_memory() ->
    list_to_integer(erlang:system_info(otp_release)) >= 26.

%% The modules the targets stand for on this node: loaded modules only (profiling loads nothing), never
%% Orbit's own (exclude) nor the preloaded ones (erlang, prim_*, init…).
resolve(Spec) ->
    Exclude = maps:get(exclude, Spec, []) ++ erlang:pre_loaded(),
    try
        Targets = [resolve_target(T, Exclude) || T <- maps:get(targets, Spec, [])],
        Modules = lists:usort(lists:append([Ms || {_, Ms, _} <- Targets])),
        {ok, Targets, Modules}
    catch
        throw:{refused, Why} -> {error, Why}
    end.

resolve_target({module, M} = T, Exclude) ->
    case lists:member(M, Exclude) of
        true -> throw({refused, {excluded, M}});
        false -> ok
    end,
    case erlang:module_loaded(M) of
        true -> {T, [M], []};
        false -> {T, [], [M]}
    end;
resolve_target({app, App} = T, Exclude) ->
    case application:get_key(App, modules) of
        {ok, Ms} ->
            Keep = [M || M <- Ms, not lists:member(M, Exclude)],
            {T, [M || M <- Keep, erlang:module_loaded(M)], [M || M <- Keep, not erlang:module_loaded(M)]};
        undefined ->
            {T, [], unknown}
    end;
resolve_target({match, Pattern} = T, Exclude) ->
    case re:compile(Pattern, [unicode]) of
        {ok, Re} ->
            Ms = [M || {M, _} <- code:all_loaded(), not lists:member(M, Exclude), module_matches(M, Re)],
            {T, lists:sort(Ms), []};
        {error, {Why, At}} ->
            throw({refused, {bad_pattern, Pattern, list_to_binary(Why), At}})
    end.

%% Erlang's name of the module (Elixir.Bank.Fees) or Elixir's (Bank.Fees).
module_matches(M, Re) ->
    Name = atom_to_binary(M, utf8),
    Short = case Name of
                <<"Elixir.", Rest/binary>> -> Rest;
                _ -> Name
            end,
    re:run(Name, Re, [{capture, none}]) =:= match orelse re:run(Short, Re, [{capture, none}]) =:= match.

functions(M) ->
    try erlang:get_module_info(M, functions) catch error:_ -> [] end.

count_functions(Modules) ->
    lists:sum([length(functions(M)) || M <- Modules]).

%% ---------------------------------------------------------------------------------------------------
%% Starting, collecting, stopping

%% Starts the profiler: {ok, #{modules => [M], functions => N, call_memory => Bool, session => Bool}}
%% or {error, Reason}.
start(#{id := _, owner := _, duration_ms := _} = Spec) ->
    orbit_trace_lib:start(orbit_profile, holder_init, [Spec], 30000, profiler_died).

%% The result of profile Id: ends the window now if it still runs, and the profiler exits once it has
%% answered. {ok, Result} or {error, not_running}.
collect(Id, Timeout) ->
    case whereis(orbit_profiler) of
        undefined ->
            {error, not_running};
        Pid ->
            case request(Pid, {collect, Id}, Timeout) of
                {ok, Result} -> {ok, Result};
                {error, _} = E -> E;
                Other -> {error, Other}
            end
    end.

%% Orbit's clean-up: stops profile Id if it still runs (its profiler removes what it set), and removes
%% the patterns of Modules on the node's legacy session unless a live profiler of another profile uses
%% them. Safe to call any number of times.
stop(Id, Modules) ->
    Live = case whereis(orbit_profiler) of
               undefined ->
                   [];
               Pid ->
                   case request(Pid, info, 5000) of
                       #{id := Id} ->
                           stop_holder(Pid),
                           [];
                       #{modules := Ms, session := false} ->
                           Ms;
                       _ ->
                           []
                   end
           end,
    lists:foreach(fun(M) ->
                          case lists:member(M, Live) of
                              true -> ok;
                              false -> unpattern_legacy(M)
                          end
                  end, Modules),
    ok.

%% The running profiler, if any: #{id, owner, modules, running, remaining_ms} or none.
status() ->
    case whereis(orbit_profiler) of
        undefined -> none;
        Pid -> request(Pid, info, 5000)
    end.

%% ---------------------------------------------------------------------------------------------------
%% The profiler

holder_init({Caller, Ref}, Spec) ->
    #{owner := Owner} = Spec,
    case claim(Owner, 3) of
        ok ->
            case check_node(Spec) of
                {ok, _} ->
                    {ok, _, Modules} = resolve(Spec),
                    erlang:monitor_node(Owner, true),
                    try setup(Spec, Modules) of
                        State ->
                            Caller ! {Ref, {ok, maps:with([modules, functions, call_memory, session, sample_ms], State)}},
                            erlang:send_after(maps:get(duration_ms, Spec), self(), orbit_profile_deadline),
                            case maps:get(sample, State) of
                                none -> ok;
                                _ -> erlang:send_after(maps:get(sample_ms, State), self(), orbit_profile_tick)
                            end,
                            run(State)
                    catch
                        Class:Reason ->
                            %% A session, if one was made, ends with this process.
                            case orbit_trace_lib:has_sessions() of
                                true -> ok;
                                false -> untrace(#{handle => legacy, modules => Modules})
                            end,
                            unregister_self(),
                            Caller ! {Ref, {error, {setup_failed, Class, Reason}}}
                    end;
                Error ->
                    unregister_self(),
                    Caller ! {Ref, Error}
            end;
        Error ->
            Caller ! {Ref, Error}
    end.

%% Takes the name orbit_profiler, replacing a profiler of the same owner.
claim(Owner, Tries) ->
    orbit_trace_lib:claim(orbit_profiler, Owner, Tries, fun(Pid) -> request(Pid, info, 5000) end,
                          fun stop_holder/1).

unregister_self() ->
    try unregister(orbit_profiler) catch error:badarg -> ok end.

setup(Spec, Modules) ->
    Memory = maps:get(memory, Spec, true) andalso has_call_memory(),
    Session = orbit_trace_lib:has_sessions(),
    Self = self(),
    {Handle, MemoryOn} =
        case Session of
            true ->
                S = trace:session_create(orbit_profile, Self, []),
                lists:foreach(fun(M) -> trace:function(S, {M, '_', '_'}, true, [call_time]) end, Modules),
                MemOn = Memory andalso
                    lists:all(fun(M) -> is_integer(try_pattern(fun() -> trace:function(S, {M, '_', '_'}, true, [call_memory]) end)) end,
                              Modules),
                trace:process(S, all, true, [call]),
                trace:process(S, Self, false, [call]),
                {S, MemOn};
            false ->
                lists:foreach(fun(M) -> erlang:trace_pattern({M, '_', '_'}, true, [call_time]) end, Modules),
                MemOn = Memory andalso
                    lists:all(fun(M) -> is_integer(try_pattern(fun() -> erlang:trace_pattern({M, '_', '_'}, true, [call_memory]) end)) end,
                              Modules),
                erlang:trace(all, true, [call]),
                erlang:trace(Self, false, [all]),
                {legacy, MemOn}
        end,
    Sample = maps:get(sample, Spec, all),
    #{id => maps:get(id, Spec),
      owner => maps:get(owner, Spec),
      modules => Modules,
      functions => count_functions(Modules),
      call_memory => MemoryOn,
      session => Session,
      handle => Handle,
      running => true,
      result => undefined,
      started => erlang:monotonic_time(microsecond),
      stopped => undefined,
      deadline => erlang:monotonic_time(millisecond) + maps:get(duration_ms, Spec),
      linger_ms => maps:get(linger_ms, Spec, 60000),
      sample => Sample,
      sample_ms => sample_ms(maps:get(sample_ms, Spec, default), Session),
      sample_max => max(1, maps:get(sample_max, Spec, 200)),
      max_stacks => maps:get(max_stacks, Spec, 10000),
      stacks => #{},
      nstacks => 0,
      samples => 0,
      ticks => 0,
      other_stacks => 0,
      sweep => [],
      sample_us => 0}.

%% The sampling interval asked for, or this node's default: every 10 ms, every 50 ms on OTP 27+ (where
%% asking a process on the CPU for its status or stack costs it more).
sample_ms(default, true) -> 50;
sample_ms(default, false) -> 10;
sample_ms(Ms, _) when is_integer(Ms) -> max(1, Ms).

try_pattern(F) ->
    try F() catch error:_ -> error end.

%% The loop, with a last line of defence: whatever goes wrong in it, nothing it set stays behind.
run(State) ->
    try
        orbit_profile:holder_loop(State)
    catch
        exit:normal ->
            exit(normal);
        Class:Reason ->
            untrace(State),
            unregister_self(),
            exit({Class, Reason})
    end.

holder_loop(State) ->
    receive
        orbit_profile_tick ->
            State1 = tick(State),
            orbit_profile:holder_loop(State1);
        orbit_profile_deadline ->
            State1 = finish(State),
            erlang:send_after(maps:get(linger_ms, State1), self(), orbit_profile_linger),
            orbit_profile:holder_loop(State1);
        orbit_profile_linger ->
            unregister_self(),
            exit(normal);
        {orbit_profile_req, From, Ref, info} ->
            From ! {Ref, info(State)},
            orbit_profile:holder_loop(State);
        {orbit_profile_req, From, Ref, {collect, Id}} ->
            case maps:get(id, State) of
                Id ->
                    State1 = finish(State),
                    From ! {Ref, {ok, maps:get(result, State1)}},
                    unregister_self(),
                    exit(normal);
                _ ->
                    From ! {Ref, {error, not_running}},
                    orbit_profile:holder_loop(State)
            end;
        {orbit_profile_req, From, Ref, stop} ->
            _ = finish(State),
            From ! {Ref, ok},
            unregister_self(),
            exit(normal);
        {nodedown, Node} ->
            case maps:get(owner, State) of
                Node ->
                    _ = finish(State),
                    unregister_self(),
                    exit(normal);
                _ ->
                    orbit_profile:holder_loop(State)
            end;
        _Other ->
            %% Trace messages of someone else's patterns, if any: dropped, never kept.
            orbit_profile:holder_loop(State)
    end.

info(State) ->
    Remaining = case maps:get(running, State) of
                    true -> max(0, maps:get(deadline, State) - erlang:monotonic_time(millisecond));
                    false -> 0
                end,
    (maps:with([id, owner, modules, running, session], State))#{remaining_ms => Remaining}.

%% Ends the window (once): reads every counter, then removes every pattern and flag.
finish(#{running := false} = State) ->
    State;
finish(State) ->
    Stopped = erlang:monotonic_time(microsecond),
    Result = try read(State) catch C:E -> #{error => iolist_to_binary(io_lib:format("~p:~p", [C, E]))} end,
    untrace(State),
    State#{running := false, stopped := Stopped, handle := none,
           result := Result#{window_us => Stopped - maps:get(started, State),
                             call_memory => maps:get(call_memory, State),
                             session => maps:get(session, State),
                             modules => maps:get(modules, State),
                             stacks => stacks_out(State),
                             samples => maps:get(samples, State),
                             ticks => maps:get(ticks, State),
                             sample_ms => maps:get(sample_ms, State),
                             other_stacks => maps:get(other_stacks, State),
                             sample_us => maps:get(sample_us, State),
                             otp_release => list_to_binary(erlang:system_info(otp_release))}}.

%% [{M, F, A, Calls, Microseconds, Words | undefined}] for the functions called during the window.
read(#{modules := Modules, handle := Handle, call_memory := Memory}) ->
    Info = case Handle of
               legacy -> fun(MFA, Item) -> erlang:trace_info(MFA, Item) end;
               S -> fun(MFA, Item) -> trace:info(S, MFA, Item) end
           end,
    Rows = lists:append(
             [[row(M, F, A, Info, Memory) || {F, A} <- functions(M)] || M <- Modules]),
    #{functions => [R || R <- Rows, R =/= skip]}.

row(M, F, A, Info, Memory) ->
    case Info({M, F, A}, call_time) of
        {call_time, PerProc} when is_list(PerProc), PerProc =/= [] ->
            {Calls, Us} = lists:foldl(fun({_Pid, C, S, U}, {C0, U0}) -> {C0 + C, U0 + S * 1000000 + U} end,
                                      {0, 0}, PerProc),
            Words = case Memory of
                        true ->
                            case Info({M, F, A}, call_memory) of
                                {call_memory, PerProcM} when is_list(PerProcM) ->
                                    lists:foldl(fun({_, _, W}, W0) -> W0 + W end, 0, PerProcM);
                                _ -> undefined
                            end;
                        false -> undefined
                    end,
            case Calls of
                0 -> skip;
                _ -> {M, F, A, Calls, Us, Words}
            end;
        _ ->
            skip
    end.

untrace(#{handle := none}) ->
    ok;
untrace(#{handle := legacy, modules := Modules}) ->
    Self = self(),
    lists:foreach(fun unpattern_legacy/1, Modules),
    case erlang:trace_info(new_processes, tracer) of
        {tracer, Self} -> try erlang:trace(new_processes, false, [call]) catch error:_ -> ok end;
        _ -> ok
    end,
    lists:foreach(fun(P) ->
                          case erlang:trace_info(P, tracer) of
                              {tracer, Self} -> try erlang:trace(P, false, [call]) catch error:_ -> ok end;
                              _ -> ok
                          end
                  end, erlang:processes()),
    ok;
untrace(#{handle := S}) ->
    try trace:session_destroy(S) catch error:_ -> ok end,
    ok.

unpattern_legacy(M) ->
    _ = try_pattern(fun() -> erlang:trace_pattern({M, '_', '_'}, false, [call_time]) end),
    _ = try_pattern(fun() -> erlang:trace_pattern({M, '_', '_'}, false, [call_memory]) end),
    ok.

%% ---------------------------------------------------------------------------------------------------
%% Sampling

%% One tick: looks at the next sample_max processes of the node (a sweep over all of them, taken afresh
%% when it ends, so every process gets its turn and none is favoured) and takes the stacks of those on the
%% CPU (running or runnable). The work per tick is bounded whatever the number of processes; what is
%% counted is still in proportion to the time each spends on the CPU.
tick(#{running := false} = State) ->
    State;
tick(State) ->
    T0 = erlang:monotonic_time(microsecond),
    #{sample_max := Max, sample := Mode, modules := Modules} = State,
    Sweep = case maps:get(sweep, State, []) of
                [] -> erlang:processes() -- [self()];
                Left -> Left
            end,
    {Now, Later} = case length(Sweep) > Max of
                       true -> lists:split(Max, Sweep);
                       false -> {Sweep, []}
                   end,
    State1 = lists:foldl(fun(P, St) -> sample(P, Mode, Modules, St) end, State, Now),
    Elapsed = erlang:monotonic_time(microsecond) - T0,
    erlang:send_after(maps:get(sample_ms, State1), self(), orbit_profile_tick),
    State1#{ticks := maps:get(ticks, State1) + 1, sweep => Later,
            sample_us := maps:get(sample_us, State1) + Elapsed}.

%% One request per process, status and stack together: a process on the CPU answers a request when it
%% next handles its signals, which costs it more the more requests it gets (markedly on OTP 27+), so it
%% gets one, not two; the stack of a waiting process is read and dropped.
sample(P, Mode, Modules, State) ->
    case erlang:process_info(P, [status, current_stacktrace]) of
        [{status, S}, {current_stacktrace, Stack}] when S =:= running; S =:= runnable; S =:= garbage_collecting ->
            Frames = lists:reverse([{M, F, arity(A)} || {M, F, A, _} <- Stack]),
            Keep = case Mode of
                       profiled -> lists:any(fun({M, _, _}) -> lists:member(M, Modules) end, Frames);
                       _ -> true
                   end,
            case Keep of
                true -> add_stack(Frames, State);
                false -> State
            end;
        _ ->
            State
    end.

arity(A) when is_list(A) -> length(A);
arity(A) -> A.

add_stack(Frames, #{stacks := Stacks, nstacks := NS, max_stacks := Max, samples := Samples} = State) ->
    case Stacks of
        #{Frames := C} ->
            State#{stacks := Stacks#{Frames := C + 1}, samples := Samples + 1};
        _ when NS >= Max ->
            State#{other_stacks := maps:get(other_stacks, State) + 1, samples := Samples + 1};
        _ ->
            State#{stacks := Stacks#{Frames => 1}, nstacks := NS + 1, samples := Samples + 1}
    end.

stacks_out(#{stacks := Stacks}) ->
    maps:to_list(Stacks).

%% ---------------------------------------------------------------------------------------------------
%% Talking to a profiler

request(Pid, Request, Timeout) ->
    orbit_trace_lib:request(orbit_profile_req, Pid, Request, Timeout, no_profiler).

%% Asks a profiler to stop and waits until it is gone; kills it when it does not go within 5 s (its
%% session, if any, goes with it).
stop_holder(Pid) ->
    orbit_trace_lib:stop(orbit_profile_req, Pid, stop).
