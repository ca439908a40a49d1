%% Stepping into the process a call goes to: where a call on a line lands, computed from the line's code
%% and the frame's bindings.
-module(orbit_dbg_step).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([arity/1, bindings/2, call_target/3, target_at/3, children/4, eval/5, frame_lines/2,
         kind/1, limits/0, scope/3, shrink/2, size_of/1]).

%% Stepping into the process a call goes to

%% Where a call on line Line of Mod, made by the paused process of Meta, lands in another process
%% (on this node or another):
%%   {gen_server, Node, Pid, CallbackModule, Function, Arity}: GenServer.call/cast (or :gen_server's) to
%%     Pid, or a message sent to a GenServer (handle_info/2);
%%   {spawned, Node, M, F, Arity}: :erpc.call/cast or :rpc.call/cast run M:F in a process on Node;
%%   none: no such call on that line (an ordinary step);
%%   {unknown, Why}: there is one, but where it lands cannot be told.
%% The call's target is computed from the line's code and the frame's bindings, before the call runs.
call_target(Meta, Mod, Line) ->
    target_at(Mod, Line, fun() -> case bindings(Meta, nostack) of {ok, B} -> B; _ -> [] end end).

%% The same for a frame whose bindings Bindings() gives (the native engine reads them from the stack).
target_at(Mod, Line, Bindings) ->
    case orbit_dbg_code:abstract_code(Mod) of
        {ok, Forms, _} ->
            case calls_on_line(Forms, Line) of
                [] -> none;
                [Call | _] ->
                    try target(Call, Bindings())
                    catch throw:{unknown, Why} -> {unknown, unicode:characters_to_binary(Why)}
                    end
            end;
        _ -> none
    end.

calls_on_line(Forms, Line) ->
    calls_on_line([F || {function, _, _, _, _} = F <- Forms], Line, []).

calls_on_line([], _Line, Acc) -> lists:reverse(Acc);
calls_on_line([T | Rest], Line, Acc) when is_tuple(T) ->
    Acc1 = case cross_call(T) of
               {ok, Call} ->
                   case orbit_dbg_code:line(element(2, T)) of Line -> [Call | Acc]; _ -> Acc end;
               false -> Acc
           end,
    calls_on_line(tuple_to_list(T) ++ Rest, Line, Acc1);
calls_on_line([L | Rest], Line, Acc) when is_list(L) -> calls_on_line(L ++ Rest, Line, Acc);
calls_on_line([_ | Rest], Line, Acc) -> calls_on_line(Rest, Line, Acc).

cross_call({call, _, {remote, _, {atom, _, M}, {atom, _, F}}, Args}) ->
    case {M, F, Args} of
        {erpc, call, [N, Mo, Fu, A | _]} -> {ok, {spawn, N, Mo, Fu, A}};
        {erpc, cast, [N, Mo, Fu, A]} -> {ok, {spawn, N, Mo, Fu, A}};
        {rpc, call, [N, Mo, Fu, A | _]} -> {ok, {spawn, N, Mo, Fu, A}};
        {rpc, cast, [N, Mo, Fu, A]} -> {ok, {spawn, N, Mo, Fu, A}};
        {G, call, [Dest, _ | _]} when G =:= 'Elixir.GenServer'; G =:= gen_server -> {ok, {gen_server, Dest, handle_call, 3}};
        {G, cast, [Dest, _]} when G =:= 'Elixir.GenServer'; G =:= gen_server -> {ok, {gen_server, Dest, handle_cast, 2}};
        {erlang, send, [Dest, _ | _]} -> {ok, {send, Dest}};
        {'Elixir.Kernel', send, [Dest, _]} -> {ok, {send, Dest}};
        _ -> false
    end;
cross_call({op, _, '!', Dest, _}) -> {ok, {send, Dest}};
cross_call(_) -> false.

target({spawn, NodeE, ModE, FunE, ArgsE}, Bs) ->
    Node = value(NodeE, Bs, "the node"),
    M = value(ModE, Bs, "the module"),
    F = value(FunE, Bs, "the function"),
    Arity = case list_length(ArgsE) of
                N when is_integer(N) -> N;
                undefined -> length(value(ArgsE, Bs, "the arguments"))
            end,
    is_atom(Node) andalso is_atom(M) andalso is_atom(F) orelse throw({unknown, "the call's node, module or function is not an atom"}),
    {spawned, Node, M, F, Arity};
target({gen_server, DestE, Fun, Arity}, Bs) ->
    Pid = resolve(value(DestE, Bs, "the destination")),
    {gen_server, node(Pid), Pid, callback_module(Pid), Fun, Arity};
target({send, DestE}, Bs) ->
    Pid = resolve(value(DestE, Bs, "the destination")),
    {gen_server, node(Pid), Pid, callback_module(Pid), handle_info, 2}.

list_length({nil, _}) -> 0;
list_length({cons, _, _, T}) -> case list_length(T) of N when is_integer(N) -> N + 1; U -> U end;
list_length(_) -> undefined.

%% The value of an expression of the paused frame, by erl_eval with the frame's bindings; bounded.
value(Expr, Bs, What) ->
    Self = self(),
    Ref = make_ref(),
    {Pid, MRef} = spawn_monitor(fun() -> Self ! {Ref, erl_eval:expr(Expr, orbit_dbg_eval:erlang_binding(Bs))} end),
    receive
        {Ref, {value, V, _}} -> erlang:demonitor(MRef, [flush]), V;
        {'DOWN', MRef, process, Pid, _} -> throw({unknown, io_lib:format("~s cannot be worked out before the call runs", [What])})
    after 2000 ->
        exit(Pid, kill),
        throw({unknown, io_lib:format("working out ~s took too long", [What])})
    end.

resolve(Pid) when is_pid(Pid) -> Pid;
resolve(Name) when is_atom(Name) -> registered(Name, node());
resolve({Name, Node}) when is_atom(Name), is_atom(Node) -> registered(Name, Node);
resolve({global, Name}) ->
    case global:whereis_name(Name) of
        P when is_pid(P) -> P;
        _ -> throw({unknown, io_lib:format("no process is registered globally as ~tp", [Name])})
    end;
resolve({via, M, Name}) ->
    case catch M:whereis_name(Name) of
        P when is_pid(P) -> P;
        _ -> throw({unknown, io_lib:format("~tp finds no process named ~tp", [M, Name])})
    end;
resolve(Other) -> throw({unknown, io_lib:format("~tp names no process", [Other])}).

registered(Name, Node) ->
    case catch erpc:call(Node, erlang, whereis, [Name], 2000) of
        P when is_pid(P) -> P;
        _ -> throw({unknown, io_lib:format("no process is registered as ~s on ~s", [display(Name), Node])})
    end.

display(Name) ->
    case atom_to_list(Name) of
        "Elixir." ++ Rest -> Rest;
        Other -> Other
    end.

%% A GenServer's callback module (proc_lib notes it as the initial call's module).
callback_module(Pid) ->
    Info = case node(Pid) =:= node() of
               true -> erlang:process_info(Pid, [dictionary, initial_call]);
               false -> catch erpc:call(node(Pid), erlang, process_info, [Pid, [dictionary, initial_call]], 2000)
           end,
    case Info of
        [{dictionary, D}, {initial_call, _}] ->
            case proplists:get_value('$initial_call', D) of
                {M, init, 1} -> M;
                _ -> throw({unknown, io_lib:format("~p is not a GenServer: where it receives the message cannot be told", [Pid])})
            end;
        _ -> throw({unknown, io_lib:format("~p is not alive", [Pid])})
    end.

arity(A) when is_list(A) -> length(A);
arity(A) when is_integer(A) -> A;
arity(_) -> 0.

%% dbg_istk:stack_frame/2 crashes the meta (and so the debugged process) when asked about a level
%% that is not on its stack, so ask only while there are stack entries: from the top level, each answer
%% names the next level to ask about, until `top`. A post-mortem meta numbers its current frame 1, below
%% the levels of its stack entries: there the walk starts just above the first entry.
frame_lines(Meta, [Top, Next | _]) when Next < Top ->
    walk_up(Meta, Top, #{});
frame_lines(Meta, [_Top, Next | _]) ->
    walk_up(Meta, Next + 1, #{});
frame_lines(_Meta, _) -> #{}.

walk_up(Meta, SP, Acc) ->
    case orbit_dbg_frames:meta_get(Meta, stack_frame, {up, SP}) of
        {ok, {Le, {_M, Line}, _Bs}} -> walk_up(Meta, Le, Acc#{Le => Line});
        _ -> Acc
    end.

%% Bindings of the frame at level SP (nostack for the top frame).
bindings(Meta, SP) ->
    orbit_dbg_frames:meta_get(Meta, bindings, SP).

%% The variables of a frame, summarised: [{Name, Summary, Kind, Size, RawVar}] with Elixir names for Elixir
%% code (current binding first) and Erlang names otherwise. Lang: elixir | erlang.
scope(Meta, SP, Lang) ->
    case bindings(Meta, SP) of
        {ok, Bs} ->
            Vars = case Lang of
                       elixir -> elixir_vars(Bs);
                       erlang -> [{atom_to_binary(V), V, Val} || {V, Val} <- lists:keysort(1, Bs)]
                   end,
            {ok, [{Name, shrink(Val, limits()), kind(Val), size_of(Val), Raw} || {Name, Raw, Val} <- Vars]};
        E -> E
    end.

%% Current bindings first, then earlier ones named `x (previous N)`; compiler temporaries left out.
elixir_vars(Bs) ->
    Named = [{Name, N, Var, Val} || {Var, Val} <- Bs, {Name, N} <- [orbit_dbg_eval:elixir_name(Var)], Name =/= '', Name =/= '_'],
    Sorted = lists:sort(fun({A, NA, _, _}, {B, NB, _, _}) -> {A, -NA} =< {B, -NB} end, Named),
    label_versions(Sorted, undefined, []).

label_versions([], _, Acc) -> lists:reverse(Acc);
label_versions([{Name, N, Var, Val} | Rest], Name, Acc) ->
    Label = iolist_to_binary([atom_to_binary(Name), " (@", integer_to_binary(N), ")"]),
    label_versions(Rest, Name, [{Label, Var, Val} | Acc]);
label_versions([{Name, _N, Var, Val} | Rest], _Prev, Acc) ->
    label_versions(Rest, Name, [{atom_to_binary(Name), Var, Val} | Acc]).

kind(V) when is_map(V) -> map;
kind(V) when is_list(V) -> list;
kind(V) when is_tuple(V) -> tuple;
kind(V) when is_binary(V) -> binary;
kind(V) when is_bitstring(V) -> bitstring;
kind(_) -> scalar.

size_of(V) when is_map(V) -> map_size(V);
size_of(V) when is_tuple(V) -> tuple_size(V);
size_of(V) when is_binary(V) -> byte_size(V);
size_of(V) when is_bitstring(V) -> bit_size(V);
size_of(V) when is_list(V) -> list_len(V, 0);
size_of(_) -> 0.

%% Length of a possibly improper list, counting the tail as one more element.
list_len([_ | T], N) -> list_len(T, N + 1);
list_len([], N) -> N;
list_len(_, N) -> N + 1.

%% Children of a value found by Root and Path, paged: Root = {binding, Meta, SP, Var} | {stored, Ref}
%% | {process, Pid}. Path: [index | {key, Term}]. Returns {ok, [{Label, Summary, Kind, Size, ChildKey}], Total}.
children(Root, Path, Offset, Count) ->
    case root_value(Root) of
        {ok, V0} ->
            case follow(V0, Path) of
                {ok, V} -> {ok, page(V, Offset, Count), size_of(V)};
                error -> {error, stale}
            end;
        E -> E
    end.

root_value({binding, Meta, SP, Var}) ->
    case bindings(Meta, SP) of
        {ok, Bs} -> case lists:keyfind(Var, 1, Bs) of {Var, V} -> {ok, V}; false -> {error, unbound} end;
        E -> E
    end;
root_value({stored, Ref}) -> orbit_dbg_pure:stored(Ref);
root_value({process, Pid}) -> {ok, orbit_dbg:process_scope_value(Pid)}.

follow(V, []) -> {ok, V};
follow(V, [{key, K} | Rest]) when is_map(V) ->
    case maps:find(K, V) of {ok, C} -> follow(C, Rest); error -> error end;
follow(V, [I | Rest]) when is_tuple(V), is_integer(I), I >= 0, I < tuple_size(V) -> follow(element(I + 1, V), Rest);
follow(V, [I | Rest]) when is_list(V), is_integer(I), I >= 0 ->
    case nth_or_tail(V, I) of {ok, C} -> follow(C, Rest); error -> error end;
follow(_, _) -> error.

nth_or_tail([H | _], 0) -> {ok, H};
nth_or_tail([_ | T], I) -> nth_or_tail(T, I - 1);
nth_or_tail([], _) -> error;
nth_or_tail(Tail, 0) -> {ok, Tail};
nth_or_tail(_, _) -> error.

page(V, Offset, Count) when is_map(V) ->
    Keys = lists:sublist(lists:sort(maps:keys(V)), Offset + 1, Count),
    [{{key, K}, shrink(maps:get(K, V), limits()), kind(maps:get(K, V)), size_of(maps:get(K, V)), shrink(K, limits())} || K <- Keys];
page(V, Offset, Count) when is_tuple(V) ->
    [{I, shrink(element(I + 1, V), limits()), kind(element(I + 1, V)), size_of(element(I + 1, V)), I}
     || I <- lists:seq(Offset, min(tuple_size(V), Offset + Count) - 1)];
page(V, Offset, Count) when is_list(V) ->
    page_list(drop(V, Offset), Offset, Count, []);
page(V, Offset, Count) when is_binary(V) ->
    Size = byte_size(V),
    [{I, binary:at(V, I), scalar, 0, I} || I <- lists:seq(Offset, min(Size, Offset + Count) - 1)];
page(_, _, _) -> [].

drop(L, 0) -> L;
drop([_ | T], N) -> drop(T, N - 1);
drop(Other, _) -> Other.

page_list(_, _, 0, Acc) -> lists:reverse(Acc);
page_list([H | T], I, N, Acc) -> page_list(T, I + 1, N - 1, [{I, shrink(H, limits()), kind(H), size_of(H), I} | Acc]);
page_list([], _, _, Acc) -> lists:reverse(Acc);
page_list(Tail, I, _, Acc) -> lists:reverse([{I, shrink(Tail, limits()), kind(Tail), size_of(Tail), tail} | Acc]).

%% Limits used to summarise values shipped to Orbit: {MaxItems, MaxBytes, MaxDepth}. One more item, byte or
%% level than Orbit shows is kept, so Orbit still knows that something was cut and marks it with "…".
limits() -> {101, 4097, 13}.

%% A copy of V cut to Limits; cut containers keep one extra element so the renderer knows to elide.
shrink(V, {Items, Bytes, Depth}) -> shrink(V, Items, Bytes, Depth).

shrink(_V, _Items, _Bytes, 0) -> '$orbit_cut';
shrink(V, _Items, Bytes, _D) when is_binary(V), byte_size(V) > Bytes -> binary:part(V, 0, Bytes);
shrink(V, _Items, Bytes, _D) when is_bitstring(V), byte_size(V) > Bytes -> <<B:Bytes/binary, _/bitstring>> = V, B;
shrink(V, Items, Bytes, D) when is_list(V) -> shrink_list(V, Items, Bytes, D - 1, []);
shrink(V, Items, Bytes, D) when is_tuple(V) ->
    list_to_tuple([shrink(E, Items, Bytes, D - 1) || E <- lists:sublist(tuple_to_list(V), Items)]);
shrink(V, Items, Bytes, D) when is_map(V), map_size(V) =< Items ->
    maps:from_list([{shrink(K, Items, Bytes, D - 1), shrink(X, Items, Bytes, D - 1)} || {K, X} <- maps:to_list(V)]);
shrink(V, Items, Bytes, D) when is_map(V) ->
    Keys = lists:sublist(lists:sort(maps:keys(V)), Items),
    maps:from_list([{shrink(K, Items, Bytes, D - 1), shrink(maps:get(K, V), Items, Bytes, D - 1)} || K <- Keys]);
shrink(V, _, _, _) -> V.

shrink_list(_, 0, _, _, Acc) -> lists:reverse(Acc);
shrink_list([H | T], N, Bytes, D, Acc) -> shrink_list(T, N - 1, Bytes, D, [shrink(H, N, Bytes, D) | Acc]);
shrink_list([], _, _, _, Acc) -> lists:reverse(Acc);
shrink_list(Tail, _, Bytes, D, Acc) -> lists:reverse(Acc) ++ shrink(Tail, 1, Bytes, D).

%% Evaluates Source (Elixir or Erlang) with the bindings of the paused frame (or none: Meta = none),
%% on this node; stores the result for expansion. {ok, Summary, Kind, Size, Ref} | {error, Message} |
%% {refused, Items} when Opts has {read_only, Allowed} and the expression is not a pure read (see pure/2).
eval(Meta, SP, Lang, Source, Opts) ->
    try
        Parsed0 = orbit_dbg_eval:parse_expr(Lang, Source),
        Checked = case is_list(Opts) andalso lists:keyfind(read_only, 1, Opts) of
                      {read_only, Allowed} -> orbit_dbg_pure:pure(Parsed0, Allowed);
                      _ -> {ok, Parsed0}
                  end,
        case Checked of
            {refused, Items} -> {refused, Items};
            {ok, Parsed} ->
                Bs = case Meta of
                         none -> [];
                         _ -> case bindings(Meta, SP) of {ok, B} -> B; _ -> [] end
                     end,
                case orbit_dbg_eval:eval_parsed(Parsed, Bs) of
                    {ok, V} ->
                        Ref = orbit_dbg_pure:store(V),
                        {ok, shrink(V, limits()), kind(V), size_of(V), Ref};
                    {error, Msg} -> {error, Msg}
                end
        end
    catch throw:{parse_error, M} -> {error, M}
    end.

%% ---------------------------------------------------------------------------------------------
