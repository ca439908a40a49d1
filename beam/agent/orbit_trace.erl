%% Orbit's tracer on a node: call tracing of function patterns and message tracing of chosen processes,
%% with recon_trace's safety.
%%
%% One tracer process per node at a time, registered as orbit_tracer; it belongs to one Orbit node (its
%% owner). A second session of the same owner replaces the first; another owner is refused. The tracer:
%%   - sets the trace patterns and flags itself, and never traces itself: in a trace session of its own
%%     where the node has them (OTP 27+, the trace module), else in the node's one legacy session
%%     (OTP 25/26: trace patterns are node-global and a process has one tracer, so a node where another
%%     tool traces new processes is refused). See "Where the flags and patterns live" below;
%%   - stops on its own when its limit trips (a count, or more than N events within a window of Ms),
%%     when its mailbox grows past max_queue, when its duration ends, or when its owner goes away;
%%   - on stopping removes every flag it set (processes whose tracer it is) and every pattern (or
%%     destroys its session), then says why to its destination, an Orbit mailbox;
%%   - forwards events in batches (every batch_ms, or batch_max events), each argument and message cut
%%     to a bounded size, with erlang:phash2/1 of every message so Orbit can pair sends and receives.
%% Orbit registers stop/2 as an agent clean-up before starting a tracer, so a trace never outlives
%% Orbit's session. Match specs as people write them are read by orbit_trace_ms; what the tracers of
%% Orbit share (talking to one, trace sessions) is in orbit_trace_lib. Installed from source: no
%% macros, no includes; the tracer loops through fully qualified calls and wakes every batch_ms, so a
%% newer version takes over soon after a load.
-module(orbit_trace).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([check/1, start/1, stop/2, status/0, fun_to_ms/1, parse_ms/1, elixir_ms/1, tracer_init/2,
         tracer_loop/1, shrink/1]).

%% What start/1 would do, without doing it: {ok, #{calls => [{M, F, A, Count, Near}], procs => [{Spec,
%% Found}]}} or {error, Reason}. Near lists the functions named F (any arity) when Count is 0, or
%% not_loaded. A module that is not loaded but is in the code path (interactive mode loads modules on
%% their first call) counts with the functions of its object file: the tracer loads it.
check(#{owner := Owner, calls := Calls, procs := Procs}) ->
    case free_for(Owner) of
        ok ->
            case bad_match_spec(Calls) of
                ok ->
                    {ok, #{calls => [count_pattern(M, F, A) || {M, F, A, _} <- Calls],
                           procs => [{P, resolve(P) =/= []} || P <- Procs]}};
                Error ->
                    Error
            end;
        Error ->
            Error
    end.

%% Starts the tracer: {ok, #{tracer => Pid, calls => [{M, F, A, Count}], procs => N}} or {error, Reason}.
start(#{id := _, owner := _, dest := _, calls := _, procs := _, limit := _} = Opts) ->
    orbit_trace_lib:start(orbit_trace, tracer_init, [Opts], 15000, tracer_died).

%% Orbit's clean-up: stops the tracer of session Id if it still runs, then removes what a tracer killed
%% before it could clean up may have left: on OTP 25/26 the session's patterns unless a live tracer uses
%% them; with trace sessions, Orbit's sessions no live tracer holds (a tracer's session normally ends with
%% it), never a pattern or flag of the node's legacy session, where a user's dbg or recon_trace lives.
%% Safe to call any number of times.
stop(Id, Patterns) ->
    Live = case whereis(orbit_tracer) of
               undefined ->
                   none;
               Pid ->
                   case request(Pid, info, 5000) of
                       #{id := Id} ->
                           stop_tracer(Pid, stopped),
                           none;
                       #{patterns := _} = Info ->
                           Info;
                       _ ->
                           unknown
                   end
           end,
    case {orbit_trace_lib:has_sessions(), Live} of
        {true, unknown} ->
            %% A live tracer that does not answer: which session is its own is not known.
            ok;
        {true, _} ->
            Kept = case Live of
                       #{session := W} -> W;
                       _ -> none
                   end,
            [orbit_trace_lib:destroy({session, W})
             || W <- orbit_trace_lib:own_sessions(orbit_trace), W =/= Kept];
        {false, _} ->
            LivePatterns = case Live of
                               #{patterns := Ps} -> Ps;
                               _ -> []
                           end,
            lists:foreach(fun(MFA) ->
                                  case lists:member(MFA, LivePatterns) of
                                      true -> ok;
                                      false -> catch t_pattern(legacy, MFA, false)
                                  end
                          end, Patterns)
    end,
    ok.

%% The running tracer, if any: #{id, owner, events, patterns} or none.
status() ->
    case whereis(orbit_tracer) of
        undefined -> none;
        Pid -> request(Pid, info, 5000)
    end.

%% Match specs as people write them (orbit_trace_ms): a fun in dbg:fun2ms/1 style, an Erlang term, or
%% a call with a condition written in Elixir.
fun_to_ms(Text) -> orbit_trace_ms:fun_to_ms(Text).
parse_ms(Text) -> orbit_trace_ms:parse_ms(Text).
elixir_ms(Text) -> orbit_trace_ms:elixir_ms(Text).

%% ---------------------------------------------------------------------------------------------------
%% Checks

free_for(Owner) ->
    case whereis(orbit_tracer) of
        undefined ->
            no_foreign_tracer(undefined);
        Pid ->
            case request(Pid, info, 5000) of
                #{owner := Owner} -> no_foreign_tracer(Pid);
                #{owner := Other} -> {error, {busy, Other}};
                _ -> {error, {busy, unknown}}
            end
    end.

%% Another tool (dbg, recon_trace, …) tracing new processes would clash with Orbit's flags on OTP 25/26,
%% and so would an Orbit profile there (its profiler is then the tracer of every process); in a trace
%% session of Orbit's own (OTP 27+) neither can.
no_foreign_tracer(Ours) ->
    case orbit_trace_lib:has_sessions() orelse orbit_trace_lib:info(legacy, new_processes, tracer) of
        true -> ok;
        {tracer, []} -> ok;
        {tracer, Ours} -> ok;
        {tracer, Other} ->
            case whereis(orbit_profiler) of
                Other -> {error, orbit_profile_running};
                _ -> {error, {other_tracer, Other}}
            end
    end.

bad_match_spec([]) ->
    ok;
bad_match_spec([{M, F, A, MS} | Rest]) ->
    case MS of
        true ->
            bad_match_spec(Rest);
        false ->
            bad_match_spec(Rest);
        _ when is_list(MS) ->
            case catch erlang:match_spec_test([], MS, trace) of
                {ok, _, _, _} -> bad_match_spec(Rest);
                {error, Errors} -> {error, {bad_match_spec, {M, F, A}, ms_errors(Errors)}};
                Other -> {error, {bad_match_spec, {M, F, A}, [iolist_to_binary(io_lib:format("~p", [Other]))]}}
            end;
        _ ->
            {error, {bad_match_spec, {M, F, A}, [<<"a match spec is a list">>]}}
    end.

ms_errors(Errors) ->
    [iolist_to_binary(S) || {_, S} <- Errors].

count_pattern(M, F, A) ->
    Count = count_functions(M, F, A),
    Near = case Count of
               0 when M =/= '_' ->
                   case functions(M) of
                       [] -> not_loaded;
                       Fs -> [{F1, A1} || {F1, A1} <- Fs, F1 =:= F]
                   end;
               _ ->
                   []
           end,
    {M, F, A, Count, Near}.

count_functions('_', F, A) ->
    lists:sum([count_functions(M, F, A) || {M, _} <- code:all_loaded()]);
count_functions(M, F, A) ->
    length([x || {F1, A1} <- functions(M), F =:= '_' orelse F =:= F1, A =:= '_' orelse A =:= A1]).

%% The functions of M: loaded, or as its object file in the code path has them (without loading it).
functions(M) ->
    case erlang:module_loaded(M) of
        true ->
            try erlang:get_module_info(M, functions) catch _:_ -> [] end;
        false ->
            case code:which(M) of
                Path when is_list(Path) ->
                    case beam_lib:chunks(Path, [exports, locals]) of
                        {ok, {_, [{exports, E}, {locals, L}]}} -> E ++ L;
                        _ ->
                            case beam_lib:chunks(Path, [exports]) of
                                {ok, {_, [{exports, E}]}} -> E;
                                _ -> []
                            end
                    end;
                _ ->
                    []
            end
    end.

%% Loads the modules a trace names that are in the code path but not loaded yet.
load_modules(Calls) ->
    [code:ensure_loaded(M) || M <- lists:usort([M || {M, _, _, _} <- Calls]), M =/= '_',
                              not erlang:module_loaded(M)],
    ok.

%% The local pids a process spec stands for.
resolve(all) -> [all];
resolve(new) -> [new];
resolve({name, Name}) ->
    case whereis(Name) of
        undefined -> [];
        Pid -> [Pid]
    end;
resolve({pid, Pid}) when node(Pid) =:= node() ->
    case is_process_alive(Pid) of
        true -> [Pid];
        false -> []
    end;
resolve({pid, _}) -> [].

%% ---------------------------------------------------------------------------------------------------
%% The tracer

tracer_init({Caller, Ref}, Opts) ->
    #{owner := Owner} = Opts,
    case claim(Owner, 2) of
        ok ->
            case no_foreign_tracer(self()) of
                ok ->
                    case orbit_trace_lib:new_session(orbit_trace) of
                        {error, _} = Error ->
                            unregister(orbit_tracer),
                            Caller ! {Ref, Error};
                        Session ->
                            erlang:monitor_node(Owner, true),
                            State = setup(Opts, Session),
                            #{matched := Matched, nprocs := NProcs} = State,
                            Caller ! {Ref, {ok, #{tracer => self(), calls => Matched, procs => NProcs}}},
                            erlang:send_after(maps:get(batch_ms, State), self(), orbit_trace_flush),
                            orbit_trace:tracer_loop(State)
                    end;
                Error ->
                    unregister(orbit_tracer),
                    Caller ! {Ref, Error}
            end;
        Error ->
            Caller ! {Ref, Error}
    end.

%% Takes the name orbit_tracer, replacing a tracer of the same owner.
claim(Owner, Tries) ->
    orbit_trace_lib:claim(orbit_tracer, Owner, Tries, fun(Pid) -> request(Pid, info, 5000) end,
                          fun(Pid) -> stop_tracer(Pid, replaced) end).

setup(Opts, Session) ->
    Calls = maps:get(calls, Opts, []),
    Procs = maps:get(procs, Opts, []),
    MsgFlags = maps:get(msg_flags, Opts, [send, 'receive']),
    Self = self(),
    load_modules(Calls),
    Matched = [{M, F, A, t_pattern(Session, {M, F, A}, MS)} || {M, F, A, MS} <- Calls],
    case Calls of
        [] -> ok;
        _ -> t_flags(Session, processes, true, [call, timestamp])
    end,
    Targets = lists:usort(lists:append([resolve(P) || P <- Procs])),
    NProcs = lists:sum([trace_target(Session, T, MsgFlags, Self) || T <- Targets]),
    %% Never trace the tracer itself.
    catch t_flags(Session, Self, false, [all]),
    Now = erlang:monotonic_time(millisecond),
    Deadline = case maps:get(duration_ms, Opts, infinity) of
                   infinity -> infinity;
                   Ms -> Now + Ms
               end,
    #{id => maps:get(id, Opts),
      session => Session,
      owner => maps:get(owner, Opts),
      dest => maps:get(dest, Opts),
      limit => maps:get(limit, Opts),
      patterns => [{M, F, A} || {M, F, A, _} <- Calls],
      matched => Matched,
      nprocs => NProcs,
      count => 0,
      dropped => 0,
      win_start => Now,
      win_count => 0,
      batch => [],
      blen => 0,
      names => #{},
      deadline => Deadline,
      batch_ms => maps:get(batch_ms, Opts, 100),
      batch_max => maps:get(batch_max, Opts, 500),
      max_queue => maps:get(max_queue, Opts, 50000)}.

trace_target(Session, all, Flags, _Self) ->
    t_flags(Session, processes, true, Flags ++ [timestamp]);
trace_target(Session, new, Flags, _Self) ->
    t_flags(Session, new_processes, true, Flags ++ [timestamp]),
    0;
trace_target(Session, Pid, Flags, Self) ->
    case orbit_trace_lib:info(Session, Pid, tracer) of
        {tracer, T} when T =:= [] orelse T =:= Self ->
            try t_flags(Session, Pid, true, Flags ++ [timestamp]) catch error:badarg -> 0 end;
        _ ->
            0
    end.

tracer_loop(State) ->
    receive
        Msg when is_tuple(Msg), tuple_size(Msg) >= 5, element(1, Msg) =:= trace_ts ->
            orbit_trace:tracer_loop(event(Msg, State));
        orbit_trace_flush ->
            orbit_trace:tracer_loop(tick(State));
        {orbit_trace_req, From, Ref, info} ->
            From ! {Ref, info(State)},
            orbit_trace:tracer_loop(State);
        {orbit_trace_req, From, Ref, {stop, Reason}} ->
            shutdown(Reason, State),
            From ! {Ref, ok},
            exit(normal);
        {nodedown, Node} ->
            case maps:get(owner, State) of
                Node ->
                    shutdown(owner_down, State),
                    exit(normal);
                _ ->
                    orbit_trace:tracer_loop(State)
            end;
        _Other ->
            orbit_trace:tracer_loop(State)
    end.

%% The session as its weak reference ({Name, N}, or legacy): the strong one stays with the tracer.
info(State) ->
    Info = maps:with([id, owner, patterns, count, dropped], State),
    Info#{session => orbit_trace_lib:weak(maps:get(session, State, legacy))}.

event(Msg, State) ->
    #{count := Count, batch := Batch, blen := Len, limit := Limit} = State,
    case admit(Limit, State) of
        {ok, State1} ->
            {Event, State2} = convert(Msg, State1),
            State3 = State2#{count := Count + 1, batch := [Event | Batch], blen := Len + 1},
            case Limit of
                {count, N} when Count + 1 >= N ->
                    shutdown({count, N}, State3),
                    exit(normal);
                _ ->
                    case Len + 1 >= maps:get(batch_max, State3) of
                        true -> flush(State3);
                        false -> State3
                    end
            end;
        {tripped, Reason, State1} ->
            shutdown(Reason, State1#{dropped := maps:get(dropped, State1) + 1}),
            exit(normal)
    end.

%% recon_trace's rate rule: more than N events within one window of Ms milliseconds trips the limit.
admit({rate, N, Ms}, #{win_start := Start, win_count := WinCount} = State) ->
    Now = erlang:monotonic_time(millisecond),
    {Start1, Count1} = case Now - Start >= Ms of
                           true -> {Now, 0};
                           false -> {Start, WinCount}
                       end,
    case Count1 + 1 > N of
        true -> {tripped, {rate, N, Ms}, State#{win_start := Start1, win_count := Count1}};
        false -> {ok, State#{win_start := Start1, win_count := Count1 + 1}}
    end;
admit(_, State) ->
    {ok, State}.

tick(State) ->
    State1 = flush(State),
    Now = erlang:monotonic_time(millisecond),
    {message_queue_len, QLen} = erlang:process_info(self(), message_queue_len),
    case {QLen > maps:get(max_queue, State1), maps:get(deadline, State1)} of
        {true, _} ->
            shutdown({overloaded, QLen}, State1#{drain => false}),
            exit(normal);
        {false, Deadline} when Deadline =/= infinity, Now >= Deadline ->
            shutdown(duration, State1),
            exit(normal);
        _ ->
            erlang:send_after(maps:get(batch_ms, State1), self(), orbit_trace_flush),
            State1
    end.

flush(#{blen := 0} = State) ->
    State;
flush(#{batch := Batch, dest := Dest, id := Id} = State) ->
    orbit_trace_lib:send(Dest, {orbit_trace, Id, node(), self(), events, lists:reverse(Batch)}),
    State#{batch := [], blen := 0}.

%% Removes every flag and pattern, forwards what is left (within the limit), and says why it stopped.
shutdown(Reason, State) ->
    untrace(State),
    State1 = case maps:get(drain, State, true) of
                 true -> drain(Reason, State, 10 * maps:get(batch_max, State));
                 false -> State
             end,
    State2 = drop_rest(State1),
    State3 = flush(State2),
    #{dest := Dest, id := Id, count := Count, dropped := Dropped} = State3,
    orbit_trace_lib:send(Dest, {orbit_trace, Id, node(), self(), stopped, Reason,
                                #{events => Count, dropped => Dropped}}),
    catch unregister(orbit_tracer),
    ok.

untrace(#{session := {session, _} = Session}) ->
    %% Everything the tracer set is in its session, and nothing else is.
    orbit_trace_lib:destroy(Session);
untrace(#{patterns := Patterns}) ->
    Self = self(),
    lists:foreach(fun(MFA) -> catch t_pattern(legacy, MFA, false) end, Patterns),
    case orbit_trace_lib:info(legacy, new_processes, tracer) of
        {tracer, Self} -> catch t_flags(legacy, new_processes, false, [all]);
        _ -> ok
    end,
    lists:foreach(fun(P) ->
                          case orbit_trace_lib:info(legacy, P, tracer) of
                              {tracer, Self} -> catch t_flags(legacy, P, false, [all]);
                              _ -> ok
                          end
                  end, processes()).

%% ---------------------------------------------------------------------------------------------------
%% Where the flags and patterns live
%%
%% Where the node has trace sessions (OTP 27+, the trace module), the tracer's patterns and flags are
%% set in a session of its own, named orbit_trace, with the tracer as its tracer: a user's dbg or
%% recon_trace (the legacy session) and Orbit then each get their own trace messages, and ending one
%% leaves the other's patterns and flags as they were (see orbit_trace_lib, which the debugger's
%% tracepoints and the profiler share). On OTP 25/26 everything goes to the node's one legacy session
%% with erlang:trace/3 and erlang:trace_pattern/3.

%% A call trace pattern (local: private functions too); the number of functions it matched.
t_pattern(legacy, MFA, MS) -> erlang:trace_pattern(MFA, MS, [local]);
t_pattern({session, S}, MFA, MS) -> trace:function(S, MFA, MS, [local]).

%% Process trace flags (Procs: processes, new_processes or a pid), the caller as tracer when set.
t_flags(legacy, Procs, true, Flags) -> erlang:trace(Procs, true, Flags ++ [{tracer, self()}]);
t_flags(legacy, Procs, false, Flags) -> erlang:trace(Procs, false, Flags);
t_flags({session, S}, Procs, How, Flags) -> trace:process(S, Procs, How, Flags).

%% Trace messages already queued: kept while the limit allows (not after a limit tripped).
drain(_Reason, State, 0) ->
    State;
drain(Reason, #{count := Count, limit := Limit, batch := Batch, blen := Len} = State, Budget) ->
    receive
        Msg when is_tuple(Msg), tuple_size(Msg) >= 5, element(1, Msg) =:= trace_ts ->
            Keep = case {Reason, Limit} of
                       {{count, _}, _} -> false;
                       {{rate, _, _}, _} -> false;
                       {_, {count, N}} -> Count < N;
                       _ -> true
                   end,
            case Keep of
                true ->
                    {Event, State1} = convert(Msg, State),
                    drain(Reason, State1#{count := Count + 1, batch := [Event | Batch], blen := Len + 1},
                          Budget - 1);
                false ->
                    drain(Reason, State#{dropped := maps:get(dropped, State) + 1}, Budget - 1)
            end
    after 0 ->
        State
    end.

drop_rest(State) ->
    receive
        Msg when is_tuple(Msg), tuple_size(Msg) >= 5, element(1, Msg) =:= trace_ts ->
            drop_rest(State#{dropped := maps:get(dropped, State) + 1})
    after 0 ->
        State
    end.

%% ---------------------------------------------------------------------------------------------------
%% Events as Orbit reads them

convert({trace_ts, Pid, call, {M, F, Args}, Ts}, State) ->
    named(Pid, State, fun(Name) -> {call, us(Ts), Pid, Name, M, F, shrink(Args)} end);
convert({trace_ts, Pid, call, {M, F, Args}, _Extra, Ts}, State) ->
    named(Pid, State, fun(Name) -> {call, us(Ts), Pid, Name, M, F, shrink(Args)} end);
convert({trace_ts, Pid, return_from, {M, F, A}, Value, Ts}, State) ->
    named(Pid, State, fun(Name) -> {return, us(Ts), Pid, Name, M, F, A, shrink(Value)} end);
convert({trace_ts, Pid, exception_from, {M, F, A}, {Class, Value}, Ts}, State) ->
    named(Pid, State, fun(Name) -> {exception, us(Ts), Pid, Name, M, F, A, Class, shrink(Value)} end);
convert({trace_ts, Pid, send, Msg, To, Ts}, State) ->
    {ToName, State1} = name_of(To, State),
    named(Pid, State1, fun(Name) ->
                               {send, us(Ts), Pid, Name, To, ToName, shrink(Msg), erlang:phash2(Msg), true}
                       end);
convert({trace_ts, Pid, send_to_non_existing_process, Msg, To, Ts}, State) ->
    named(Pid, State, fun(Name) ->
                              {send, us(Ts), Pid, Name, To, [], shrink(Msg), erlang:phash2(Msg), false}
                      end);
convert({trace_ts, Pid, 'receive', Msg, Ts}, State) ->
    named(Pid, State, fun(Name) -> {recv, us(Ts), Pid, Name, shrink(Msg), erlang:phash2(Msg)} end);
convert(Other, State) ->
    Ts = element(tuple_size(Other), Other),
    {{other, us(Ts), element(2, Other), shrink(Other)}, State}.

named(Pid, State, Make) ->
    {Name, State1} = name_of(Pid, State),
    {Make(Name), State1}.

%% The registered name of a local process ([] when none), cached.
name_of(Pid, #{names := Names} = State) when is_pid(Pid), node(Pid) =:= node() ->
    case Names of
        #{Pid := Name} ->
            {Name, State};
        _ ->
            Name = case erlang:process_info(Pid, registered_name) of
                       {registered_name, N} -> N;
                       _ -> []
                   end,
            Names1 = case map_size(Names) >= 10000 of
                         true -> #{};
                         false -> Names
                     end,
            {Name, State#{names := Names1#{Pid => Name}}}
    end;
name_of(_, State) ->
    {[], State}.

us({Mega, Sec, Micro}) -> (Mega * 1000000 + Sec) * 1000000 + Micro;
us(_) -> erlang:system_time(microsecond).

%% A term cut to a bounded size: small terms as they are, big ones with at most 16 elements per list,
%% tuple or map, 256 bytes per binary, 6 levels; what was cut is marked '...'.
shrink(Term) ->
    case erlang:external_size(Term) =< 4096 of
        true -> Term;
        false -> shrink(Term, 6)
    end.

shrink(_Term, 0) ->
    '...';
shrink(B, _) when is_binary(B), byte_size(B) > 256 ->
    <<(binary:part(B, 0, 256))/binary, "...">>;
shrink(L, D) when is_list(L) ->
    shrink_list(L, D - 1, 16);
shrink(T, D) when is_tuple(T) ->
    list_to_tuple(shrink_list(tuple_to_list(T), D - 1, 16));
shrink(M, D) when is_map(M) ->
    Pairs = maps:to_list(M),
    Kept = case maps:find('__struct__', M) of
               {ok, S} -> [{'__struct__', S} | lists:sublist(lists:keydelete('__struct__', 1, Pairs), 15)];
               error -> lists:sublist(Pairs, 16)
           end,
    Cut = maps:from_list([{K, shrink(V, D - 1)} || {K, V} <- Kept]),
    case map_size(M) > length(Kept) of
        true -> Cut#{'...' => map_size(M) - length(Kept)};
        false -> Cut
    end;
shrink(Other, _) ->
    Other.

shrink_list([], _, _) -> [];
shrink_list(_, _, 0) -> ['...'];
shrink_list([H | T], D, N) -> [shrink(H, D) | shrink_list(T, D, N - 1)];
shrink_list(Tail, D, _) -> shrink(Tail, D).

%% ---------------------------------------------------------------------------------------------------
%% Talking to a tracer

request(Pid, Request, Timeout) ->
    orbit_trace_lib:request(orbit_trace_req, Pid, Request, Timeout, no_tracer).

%% Asks a tracer to stop and waits until it is gone; kills it when it does not go within 5 s.
stop_tracer(Pid, Reason) ->
    orbit_trace_lib:stop(orbit_trace_req, Pid, {stop, Reason}).
