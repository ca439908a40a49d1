%% What Orbit's three tracers share: orbit_trace (call and message tracing), orbit_dbg_trace (the
%% debugger's tracepoints) and orbit_profile (the profiler). Each runs one process per node that sets
%% trace patterns and flags and removes them when it stops.
%%
%% - Started with start/5, which waits until the new process says it is ready (or why not).
%% - One per node: claim/5 registers the caller under the tracer's name, replacing a tracer of the same
%%   Orbit node.
%% - Talking to that process: request/5 asks and waits for the answer, stop/3 asks it to stop and waits
%%   until it is gone (killing it when it does not go). The messages are {Tag, From, Ref, Request}, with
%%   each tracer's own Tag, answered {Ref, Reply}.
%% - Where the patterns and flags live: where the node has trace sessions (OTP 27+, the trace module) in
%%   a session of the tracer's own, named after its module, whose tracer is the tracer process; a user's
%%   dbg or recon_trace (the node's legacy session) and Orbit then never see or remove each other's
%%   patterns and flags. The tracer holds the session's strong reference for as long as it runs (a
%%   session whose last strong reference is garbage-collected ends silently, so a killed tracer's session
%%   ends with it) and destroys it when it stops. On OTP 25/26 everything goes to the node's one legacy
%%   session. A session is `legacy` or {session, Ref}, Ref a strong ({Strong, Weak}) or weak reference.
%%
%% Installed from source: no macros, no includes.
-module(orbit_trace_lib).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([start/5, claim/5, request/5, stop/3, has_sessions/0, new_session/1, own_sessions/1, weak/1, info/3, destroy/1,
         send/2]).

%% ---------------------------------------------------------------------------------------------------
%% Talking to a tracer

%% Spawns Module:Function({Caller, Ref}, Args...) and waits Timeout ms for its {Ref, Reply}: Reply, or
%% {error, {Died, Reason}} when it exits first, or {error, start_timeout} (it is then killed).
start(Module, Function, Args, Timeout, Died) ->
    Ref = make_ref(),
    Pid = proc_lib:spawn(Module, Function, [{self(), Ref} | Args]),
    Mon = erlang:monitor(process, Pid),
    receive
        {Ref, Reply} ->
            erlang:demonitor(Mon, [flush]),
            Reply;
        {'DOWN', Mon, process, Pid, Reason} ->
            {error, {Died, Reason}}
    after Timeout ->
        exit(Pid, kill),
        erlang:demonitor(Mon, [flush]),
        {error, start_timeout}
    end.

%% Registers the caller as Name, in up to Tries attempts: ok, or {error, {busy, Owner}} when a process
%% of another owner has the name. One of the same owner (Info(Pid) answers #{owner := Owner}) is stopped
%% (Stop(Pid)) and replaced.
claim(_Name, _Owner, 0, _Info, _Stop) ->
    {error, {busy, unknown}};
claim(Name, Owner, Tries, Info, Stop) ->
    case whereis(Name) of
        undefined ->
            try register(Name, self()) of
                true -> ok
            catch
                error:badarg -> claim(Name, Owner, Tries - 1, Info, Stop)
            end;
        Pid ->
            case Info(Pid) of
                #{owner := Owner} ->
                    Stop(Pid),
                    claim(Name, Owner, Tries - 1, Info, Stop);
                #{owner := Other} ->
                    {error, {busy, Other}};
                _ ->
                    claim(Name, Owner, Tries - 1, Info, Stop)
            end
    end.

%% Request's reply, {error, {Gone, Reason}} when the process is gone (Gone: no_tracer, no_profiler),
%% or {error, timeout} after Timeout ms.
request(Tag, Pid, Request, Timeout, Gone) ->
    Ref = erlang:monitor(process, Pid),
    Pid ! {Tag, self(), Ref, Request},
    receive
        {Ref, Reply} ->
            erlang:demonitor(Ref, [flush]),
            Reply;
        {'DOWN', Ref, process, _, Reason} ->
            {error, {Gone, Reason}}
    after Timeout ->
        erlang:demonitor(Ref, [flush]),
        {error, timeout}
    end.

%% Sends a tracer its stop request and waits until it is gone; kills it when it does not go within 5 s
%% (its session, if any, goes with it).
stop(Tag, Pid, Request) ->
    Ref = erlang:monitor(process, Pid),
    Pid ! {Tag, self(), Ref, Request},
    receive
        {'DOWN', Ref, process, _, _} -> ok
    after 5000 ->
        exit(Pid, kill),
        receive
            {'DOWN', Ref, process, _, _} -> ok
        after 5000 -> ok
        end
    end,
    receive
        {Ref, _} -> ok
    after 0 -> ok
    end.

%% Orbit is a hidden node that accepts no connections: never try to connect to it.
send(Dest, Msg) ->
    catch erlang:send(Dest, Msg, [noconnect]),
    ok.

%% ---------------------------------------------------------------------------------------------------
%% Where the patterns and flags live

has_sessions() ->
    _ = code:ensure_loaded(trace),
    erlang:function_exported(trace, session_create, 3).

%% legacy | {session, Session} | {error, {trace_session, Reason}}, a session named Name with the caller
%% (the tracer) as its tracer. A node that cannot make one more session is refused, not traced in the
%% legacy one.
new_session(Name) ->
    case has_sessions() of
        true ->
            try trace:session_create(Name, self(), []) of
                S -> {session, S}
            catch
                error:Reason -> {error, {trace_session, Reason}}
            end;
        false ->
            legacy
    end.

%% The sessions named Name on this node (weak references).
own_sessions(Name) ->
    [W || {N, _} = W <- trace:session_info(all), N =:= Name].

%% A session as its weak reference ({Name, N}, or legacy): the strong one stays with the tracer.
weak({session, {_Strong, Weak}}) -> Weak;
weak(legacy) -> legacy.

%% erlang:trace_info/2 in a session.
info(legacy, What, Item) -> erlang:trace_info(What, Item);
info({session, S}, What, Item) -> trace:info(S, What, Item).

%% Ends a session (strong or weak reference) and with it every pattern and flag set in it.
destroy({session, S}) -> catch trace:session_destroy(S), ok;
destroy(legacy) -> ok.
